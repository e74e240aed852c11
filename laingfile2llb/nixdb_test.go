package laingfile2llb

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/laingville/laingfile/internal/nixstore"
)

// testNixDB is nixstore's test database: one written by Nix 2.8 with every registration time
// the clock's.
func testNixDB(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("../internal/nixstore/testdata/nixdb.sqlite.gz")
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	db, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestReadNixDB(t *testing.T) {
	files := map[string][]byte{"nixdb/db.sqlite": testNixDB(t), "nixdb/schema": []byte("10")}
	read := func(name string) ([]byte, error) {
		if data, ok := files[name]; ok {
			return data, nil
		}
		return nil, errors.New("no such file")
	}
	db, err := ReadNixDB(read)
	if err != nil {
		t.Fatal(err)
	}
	times, err := nixstore.RegistrationTimes(db.SQLite)
	if err != nil || len(times) != 300 || string(db.Schema) != "10" {
		t.Fatalf("%d rows, schema %q, err %v", len(times), db.Schema, err)
	}
	for p, ts := range times {
		if ts != LayerTime().Unix() {
			t.Fatalf("%s registered at %d", p, ts)
		}
	}
	delete(files, "nixdb/schema")
	if _, err := ReadNixDB(read); err == nil {
		t.Error("a missing schema file is not an error")
	}
}
