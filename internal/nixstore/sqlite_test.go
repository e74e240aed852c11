package nixstore

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"strings"
	"testing"
)

// testNixDB is a database written by Nix 2.8 (`nix-store --load-db` into an empty chroot
// store) registering 300 made-up paths with 1194 references: 48 pages, so ValidPaths is a
// b-tree with interior pages. Every registration time is the clock's at that moment.
func testNixDB(t *testing.T) []byte {
	t.Helper()
	f, err := os.Open("testdata/nixdb.sqlite.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestPinRegistrationTimes(t *testing.T) {
	orig := testNixDB(t)
	before, err := RegistrationTimes(orig)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 300 {
		t.Fatalf("the test database has %d paths, want 300", len(before))
	}
	for p, ts := range before {
		if ts < 1<<30 || !strings.HasPrefix(p, "/nix/store/") {
			t.Fatalf("unexpected row %s registered at %d", p, ts)
		}
	}

	pinned, err := PinRegistrationTimes(orig, 1)
	if err != nil {
		t.Fatal(err)
	}
	after, err := RegistrationTimes(pinned)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("%d paths after pinning, %d before", len(after), len(before))
	}
	for p, ts := range after {
		if ts != 1 {
			t.Errorf("%s registered at %d after pinning", p, ts)
		}
	}
	// Only the time fields changed: four bytes per row at most.
	changed := 0
	for i := range orig {
		if orig[i] != pinned[i] {
			changed++
		}
	}
	if len(pinned) != len(orig) || changed == 0 || changed > 4*len(before) {
		t.Errorf("pinning changed %d bytes of %d (length %d → %d)", changed, len(orig), len(orig), len(pinned))
	}
	if bytes.Equal(orig, pinned) {
		t.Error("the input was modified in place")
	}

	// A database registered at another time pins to the same bytes: the layer holding it is
	// the same whenever the Nix step ran.
	other, err := PinRegistrationTimes(orig, 100)
	if err != nil {
		t.Fatal(err)
	}
	again, err := PinRegistrationTimes(other, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, pinned) {
		t.Error("pinning a database registered at another time gives other bytes")
	}
}

func TestPinRegistrationTimesErrors(t *testing.T) {
	db := testNixDB(t)
	tests := []struct {
		name string
		data []byte
		t    int64
		want string
	}{
		{"not sqlite", []byte(strings.Repeat("x", 4096)), 1, "not an SQLite 3 database"},
		{"truncated", db[:len(db)-100], 1, "bad page size"},
		{"time too large", db, 1 << 20, "does not fit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := PinRegistrationTimes(tt.data, tt.t)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestColumnIndex(t *testing.T) {
	nix := `CREATE TABLE ValidPaths (
    id               integer primary key autoincrement not null,
    path             text unique not null,
    hash             text not null,
    registrationTime integer not null,
    deriver          text,
    narSize          integer,
    ultimate         integer, -- null implies "false"
    sigs             text, -- space-separated
    ca               text -- if not null, an assertion that the path is content-addressed; see ValidPathInfo
)`
	tests := []struct {
		sql, col string
		want     int
		wantErr  bool
	}{
		{nix, "id", 0, false},
		{nix, "registrationTime", 3, false},
		{nix, "sigs", 7, false},
		{nix, "ca", 8, false},
		{nix, "missing", 0, true},
		{"CREATE TABLE t (a numeric(10, 2), b text, registrationTime integer)", "registrationTime", 2, false},
		{"not sql", "a", 0, true},
	}
	for _, tt := range tests {
		got, err := columnIndex(tt.sql, tt.col)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("columnIndex(%q) = %d, %v; want %d (error %v)", tt.col, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestVarint(t *testing.T) {
	tests := []struct {
		in   []byte
		want int64
		n    int
	}{
		{[]byte{0x05}, 5, 1},
		{[]byte{0x81, 0x00}, 128, 2},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, -1, 9},
		{[]byte{0x81}, 0, 0},
	}
	for _, tt := range tests {
		if v, n := varint(tt.in); v != tt.want || n != tt.n {
			t.Errorf("varint(%x) = %d, %d; want %d, %d", tt.in, v, n, tt.want, tt.n)
		}
	}
}

// A hostile database's overflow chains end: a cycle, a page past the end, a row larger than
// the file are errors, not loops or unbounded allocations.
func TestPayloadOverflowChains(t *testing.T) {
	const pageSize = 512
	page := func(next uint32) []byte {
		p := make([]byte, pageSize)
		binary.BigEndian.PutUint32(p, next)
		return p
	}
	// Page 1 holds a cell whose first 8 bytes are local, then the first overflow page.
	first := make([]byte, pageSize)
	binary.BigEndian.PutUint32(first[8:], 2)
	tests := []struct {
		name  string
		pages [][]byte
		size  int
	}{
		{"cycle", [][]byte{first, page(3), page(2)}, 1400},
		{"self", [][]byte{first, page(2)}, 1400},
		{"past the end", [][]byte{first, page(9)}, 1000},
		{"larger than the file", [][]byte{first, page(0)}, 1 << 40},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &sqliteFile{data: bytes.Join(tc.pages, nil), pageSize: pageSize, usable: pageSize}
			if _, err := f.payload(1, leafCell{offset: 0, local: 8, size: tc.size}); err == nil {
				t.Error("no error")
			}
		})
	}
}
