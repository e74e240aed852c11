package laingfile2llb

import (
	"fmt"
	"path"

	"github.com/laingville/laingfile/internal/nixstore"
)

// NixDB is the Nix database a devcontainer carries: the Nix build step registers the image's
// closure in an empty store (nixsets/build.sh); this is its db.sqlite, with every registration
// time pinned so that the layer depends on the closure alone, and its schema file.
type NixDB struct {
	SQLite []byte
	Schema []byte
}

// nixDBDir is where the build step leaves the database, under OutputDir.
const nixDBDir = "nixdb"

// ReadNixDB reads the database the build step wrote (read takes a name under OutputDir) and
// pins its registration times to LayerTime.
func ReadNixDB(read func(name string) ([]byte, error)) (NixDB, error) {
	db, err := read(path.Join(nixDBDir, "db.sqlite"))
	if err != nil {
		return NixDB{}, fmt.Errorf("the Nix build step left no Nix database: %w", err)
	}
	schema, err := read(path.Join(nixDBDir, "schema"))
	if err != nil {
		return NixDB{}, fmt.Errorf("the Nix build step left no Nix database schema: %w", err)
	}
	pinned, err := nixstore.PinRegistrationTimes(db, LayerTime().Unix())
	if err != nil {
		return NixDB{}, fmt.Errorf("the Nix database: %w", err)
	}
	return NixDB{SQLite: pinned, Schema: schema}, nil
}
