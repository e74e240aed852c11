package nixstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
)

// PinRegistrationTimes returns a copy of a Nix database (an SQLite 3 file) in which every row of
// ValidPaths has registrationTime t. Nix writes the wall clock there and offers no way to
// choose it, and the builder images have no sqlite3, so the file is edited in place: each
// value keeps its stored size, so nothing else in the file moves. Nix only shows the times, so
// any fixed value will do; t must fit the smallest integer field SQLite stores (one byte).
func PinRegistrationTimes(db []byte, t int64) ([]byte, error) {
	if t < math.MinInt8 || t > math.MaxInt8 {
		return nil, fmt.Errorf("registration time %d does not fit every stored integer size", t)
	}
	f, err := openSQLite(append([]byte(nil), db...))
	if err != nil {
		return nil, err
	}
	root, sql, err := f.table("ValidPaths")
	if err != nil {
		return nil, err
	}
	col, err := columnIndex(sql, "registrationTime")
	if err != nil {
		return nil, err
	}
	err = f.walkTable(root, func(page, cell int) error {
		c, err := f.cell(page, cell)
		if err != nil {
			return err
		}
		types, body, err := f.recordHeader(page, c)
		if err != nil {
			return err
		}
		if col >= len(types) {
			return fmt.Errorf("a ValidPaths row on page %d has %d columns", page, len(types))
		}
		at := body
		for _, st := range types[:col] {
			at += serialSize(st)
		}
		st := types[col]
		size := serialSize(st)
		switch {
		case st == 8 || st == 9: // the constants 0 and 1, stored in the header
			if st-8 != t {
				return fmt.Errorf("a ValidPaths row on page %d stores its registration time as the constant %d", page, st-8)
			}
			return nil
		case st < 1 || st > 6:
			return fmt.Errorf("a ValidPaths row on page %d: registrationTime has serial type %d, not an integer", page, st)
		case at+size > c.offset+c.local:
			return fmt.Errorf("a ValidPaths row on page %d: registrationTime is not in the page", page)
		}
		p := f.page(page)
		for i := range size {
			p[at+i] = byte(t >> (8 * (size - 1 - i)))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return f.data, nil
}

// RegistrationTimes returns the registrationTime of every ValidPaths row, by path.
func RegistrationTimes(db []byte) (map[string]int64, error) {
	f, err := openSQLite(db)
	if err != nil {
		return nil, err
	}
	root, sql, err := f.table("ValidPaths")
	if err != nil {
		return nil, err
	}
	pathCol, err := columnIndex(sql, "path")
	if err != nil {
		return nil, err
	}
	timeCol, err := columnIndex(sql, "registrationTime")
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	err = f.rows(root, func(values []any) error {
		if len(values) <= max(pathCol, timeCol) {
			return errors.New("a ValidPaths row is short")
		}
		p, ok1 := values[pathCol].(string)
		t, ok2 := values[timeCol].(int64)
		if !ok1 || !ok2 {
			return fmt.Errorf("a ValidPaths row has path %v and registrationTime %v", values[pathCol], values[timeCol])
		}
		out[p] = t
		return nil
	})
	return out, err
}

// columnIndex finds a column in a CREATE TABLE statement: its position among the column
// definitions.
func columnIndex(createTable, name string) (int, error) {
	var b strings.Builder
	for _, line := range strings.Split(createTable, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	sql := b.String()
	open, end := strings.IndexByte(sql, '('), strings.LastIndexByte(sql, ')')
	if open < 0 || end < open {
		return 0, fmt.Errorf("cannot read the columns of %q", createTable)
	}
	depth, start, col := 0, open+1, 0
	for i := open + 1; i <= end; i++ {
		switch sql[i] {
		case '(':
			depth++
		case ')', ',':
			if sql[i] == ')' && depth > 0 {
				depth--
				continue
			}
			if depth > 0 {
				continue
			}
			fields := strings.Fields(sql[start:i])
			if len(fields) > 0 && strings.EqualFold(fields[0], name) {
				return col, nil
			}
			col++
			start = i + 1
		}
	}
	return 0, fmt.Errorf("no column %s in %q", name, createTable)
}

// sqliteFile is the part of the SQLite 3 file format (https://sqlite.org/fileformat.html) that
// finding and rewriting fields of table rows needs: the header, table b-tree pages, records
// and overflow chains.
type sqliteFile struct {
	data     []byte
	pageSize int
	usable   int
}

func openSQLite(data []byte) (*sqliteFile, error) {
	if len(data) < 100 || string(data[:16]) != "SQLite format 3\x00" {
		return nil, errors.New("not an SQLite 3 database")
	}
	size := int(binary.BigEndian.Uint16(data[16:18]))
	if size == 1 {
		size = 65536
	}
	if size < 512 || size&(size-1) != 0 || len(data)%size != 0 {
		return nil, fmt.Errorf("bad page size %d for a file of %d bytes", size, len(data))
	}
	return &sqliteFile{data: data, pageSize: size, usable: size - int(data[20])}, nil
}

// page returns page n (1-based) as a slice of the file, nil when there is no such page.
func (f *sqliteFile) page(n int) []byte {
	if n < 1 || n*f.pageSize > len(f.data) {
		return nil
	}
	return f.data[(n-1)*f.pageSize : n*f.pageSize]
}

// walkTable calls fn with the page and offset of every leaf cell (row) of the table b-tree
// rooted at page root, in rowid order.
func (f *sqliteFile) walkTable(root int, fn func(page, cell int) error) error {
	seen := map[int]bool{}
	var walk func(n int) error
	walk = func(n int) error {
		p := f.page(n)
		if p == nil || seen[n] {
			return fmt.Errorf("bad or repeated b-tree page %d", n)
		}
		seen[n] = true
		hdr := 0
		if n == 1 {
			hdr = 100 // the file header comes first
		}
		kind := p[hdr]
		cells := int(binary.BigEndian.Uint16(p[hdr+3:]))
		ptrs := hdr + 8
		if kind == 0x05 {
			ptrs = hdr + 12
		}
		if ptrs+2*cells > len(p) {
			return fmt.Errorf("page %d: %d cells do not fit", n, cells)
		}
		for i := range cells {
			cell := int(binary.BigEndian.Uint16(p[ptrs+2*i:]))
			if cell+4 > len(p) {
				return fmt.Errorf("page %d: cell %d is outside the page", n, i)
			}
			var err error
			switch kind {
			case 0x05: // interior: the left child's page number, then a key
				err = walk(int(binary.BigEndian.Uint32(p[cell:])))
			case 0x0d: // leaf
				err = fn(n, cell)
			default:
				err = fmt.Errorf("page %d is not a table b-tree page (type %#x)", n, kind)
			}
			if err != nil {
				return err
			}
		}
		if kind == 0x05 {
			return walk(int(binary.BigEndian.Uint32(p[hdr+8:])))
		}
		return nil
	}
	return walk(root)
}

// leafCell is where a row's payload is: offset in its page, bytes stored there, total size.
type leafCell struct {
	offset, local, size int
}

func (f *sqliteFile) cell(page, cell int) (leafCell, error) {
	p := f.page(page)
	size, a := varint(p[cell:])
	_, b := varint(p[cell+a:])
	if a == 0 || b == 0 {
		return leafCell{}, fmt.Errorf("page %d: a cell has a bad header", page)
	}
	c := leafCell{offset: cell + a + b, size: int(size), local: f.localPayload(int(size))}
	if c.offset+c.local > len(p) || (c.local < c.size && c.offset+c.local+4 > len(p)) {
		return leafCell{}, fmt.Errorf("page %d: a cell overruns the page", page)
	}
	return c, nil
}

// localPayload is how many payload bytes of a table leaf cell are in its page; the rest is in
// overflow pages.
func (f *sqliteFile) localPayload(size int) int {
	u := f.usable
	if size <= u-35 {
		return size
	}
	m := (u-12)*32/255 - 23
	if k := m + (size-m)%(u-4); k <= u-35 {
		return k
	}
	return m
}

// recordHeader reads the serial types of a row's columns and the page offset where its values
// start; the header must be in the page (it always is for rows of a few columns).
func (f *sqliteFile) recordHeader(page int, c leafCell) ([]int64, int, error) {
	p := f.page(page)[:c.offset+c.local]
	hsize, n := varint(p[c.offset:])
	end := c.offset + int(hsize)
	if n == 0 || end > len(p) {
		return nil, 0, fmt.Errorf("page %d: a record header is not in the page", page)
	}
	var types []int64
	for at := c.offset + n; at < end; {
		st, k := varint(p[at:end])
		if k == 0 {
			return nil, 0, fmt.Errorf("page %d: bad record header", page)
		}
		types = append(types, st)
		at += k
	}
	return types, end, nil
}

// payload returns a row's whole payload, following its overflow pages.
func (f *sqliteFile) payload(page int, c leafCell) ([]byte, error) {
	p := f.page(page)
	out := append([]byte(nil), p[c.offset:c.offset+c.local]...)
	if c.local == c.size {
		return out, nil
	}
	// A payload is no larger than the file, and a chain visits no page twice: a hostile file
	// neither allocates without bound nor loops.
	if c.size > len(f.data) || f.usable <= 4 {
		return nil, fmt.Errorf("a row of %d bytes in a file of %d", c.size, len(f.data))
	}
	next := int(binary.BigEndian.Uint32(p[c.offset+c.local:]))
	seen := map[int]bool{}
	for len(out) < c.size {
		o := f.page(next)
		if o == nil || seen[next] {
			return nil, fmt.Errorf("bad or repeated overflow page %d", next)
		}
		seen[next] = true
		n := min(c.size-len(out), f.usable-4)
		out = append(out, o[4:4+n]...)
		next = int(binary.BigEndian.Uint32(o))
	}
	return out, nil
}

// rows calls fn with the decoded values of every row of a table: nil, int64, float64, string
// or []byte.
func (f *sqliteFile) rows(root int, fn func(values []any) error) error {
	return f.walkTable(root, func(page, cell int) error {
		c, err := f.cell(page, cell)
		if err != nil {
			return err
		}
		data, err := f.payload(page, c)
		if err != nil {
			return err
		}
		values, err := decodeRecord(data)
		if err != nil {
			return fmt.Errorf("page %d: %w", page, err)
		}
		return fn(values)
	})
}

// table finds a table in the schema table (the b-tree on page 1): its root page and its SQL.
func (f *sqliteFile) table(name string) (int, string, error) {
	root, sql := 0, ""
	err := f.rows(1, func(v []any) error {
		// type, name, tbl_name, rootpage, sql
		if len(v) >= 5 && v[0] == "table" && v[1] == name {
			r, _ := v[3].(int64)
			root = int(r)
			sql, _ = v[4].(string)
		}
		return nil
	})
	if err != nil {
		return 0, "", err
	}
	if root == 0 {
		return 0, "", fmt.Errorf("no table %s", name)
	}
	return root, sql, nil
}

// decodeRecord decodes an SQLite record.
func decodeRecord(data []byte) ([]any, error) {
	hsize, n := varint(data)
	if n == 0 || int(hsize) > len(data) {
		return nil, errors.New("bad record header")
	}
	var values []any
	body := int(hsize)
	for at := n; at < int(hsize); {
		st, k := varint(data[at:hsize])
		if k == 0 {
			return nil, errors.New("bad record header")
		}
		at += k
		size := serialSize(st)
		if body+size > len(data) {
			return nil, errors.New("a record is truncated")
		}
		v := data[body : body+size]
		switch {
		case st == 0:
			values = append(values, nil)
		case st >= 1 && st <= 6:
			x := int64(int8(v[0])) // sign-extend from the first byte
			for _, c := range v[1:] {
				x = x<<8 | int64(c)
			}
			values = append(values, x)
		case st == 7:
			values = append(values, math.Float64frombits(binary.BigEndian.Uint64(v)))
		case st == 8 || st == 9:
			values = append(values, st-8)
		case st >= 12 && st%2 == 0:
			values = append(values, append([]byte(nil), v...))
		case st >= 13:
			values = append(values, string(v))
		default:
			return nil, fmt.Errorf("reserved serial type %d", st)
		}
		body += size
	}
	return values, nil
}

// serialSize is the number of bytes a value of serial type st takes in a record's body.
func serialSize(st int64) int {
	switch {
	case st >= 1 && st <= 4:
		return int(st)
	case st == 5:
		return 6
	case st == 6 || st == 7:
		return 8
	case st >= 12:
		return int(st-12) / 2
	}
	return 0
}

// varint decodes SQLite's big-endian variable-length integer; n is 0 when data ends first.
func varint(data []byte) (v int64, n int) {
	for i := 0; i < 9; i++ {
		if i >= len(data) {
			return 0, 0
		}
		if i == 8 {
			return v<<8 | int64(data[i]), 9
		}
		v = v<<7 | int64(data[i]&0x7f)
		if data[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return v, 9
}
