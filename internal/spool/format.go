package spool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"

	"fibremon"
)

// Version is the on-disk format version that this package writes and reads.
const Version = 1

// MaxFileSize bounds a spool file: Put refuses larger batches and DecodeFile
// refuses larger input, so a file can always be read into memory.
const MaxFileSize = 64 << 20

// maxHeaderLine bounds the header line; {"version":1,"count":N} is far shorter.
const maxHeaderLine = 256

const (
	nameTimeLayout = "20060102T150405.000000000Z"
	nameSuffix     = ".json"
	tmpSuffix      = ".tmp"
	reasonSuffix   = ".reason.txt"
	nameLen        = len(nameTimeLayout) + 1 + 36 + len(nameSuffix)
)

// header is the first line of a spool file.
type header struct {
	Version int `json:"version"`
	Count   int `json:"count"`
}

// encodeFile returns the file contents for rs: the header line, then one
// result per line.
func encodeFile(rs []fibremon.Result) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(64 + 400*len(rs))
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(header{Version: Version, Count: len(rs)}); err != nil {
		return nil, err
	}
	for i := range rs {
		if err := enc.Encode(&rs[i]); err != nil {
			return nil, fmt.Errorf("result %d (id %.80q): %w", i, rs[i].ID, err)
		}
	}
	return buf.Bytes(), nil
}

// DecodeFile decodes the contents of one spool file (see the package doc for
// the format). It is strict: it refuses input larger than MaxFileSize, a
// version other than Version, unknown fields in the header or in a result, a
// line that is not a JSON object, data after the last result, a missing final
// newline and a result count different from the header's. It never panics,
// whatever data holds; DecodeFile(encodeFile(rs)) returns rs.
func DecodeFile(data []byte) ([]fibremon.Result, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("spool decode: %d bytes: %w", len(data), ErrTooLarge)
	}
	line, rest, ok := bytes.Cut(data, []byte{'\n'})
	if !ok {
		return nil, errors.New("spool decode: no complete header line")
	}
	h, err := decodeHeader(line)
	if err != nil {
		return nil, err
	}
	// h.Count comes from the input: do not let it size an allocation alone.
	// Each result line has at least "{}\n".
	rs := make([]fibremon.Result, 0, min(h.Count, len(rest)/3))
	for len(rest) > 0 {
		i := len(rs)
		if i >= h.Count {
			return nil, fmt.Errorf("spool decode: more than the %d results the header announces", h.Count)
		}
		line, rest, ok = bytes.Cut(rest, []byte{'\n'})
		if !ok {
			return nil, fmt.Errorf("spool decode: result %d: truncated line (no final newline)", i)
		}
		rs = append(rs, fibremon.Result{})
		if err := decodeStrict(line, &rs[i]); err != nil {
			return nil, fmt.Errorf("spool decode: result %d: %w", i, err)
		}
	}
	if len(rs) != h.Count {
		return nil, fmt.Errorf("spool decode: truncated: %d of the %d results the header announces", len(rs), h.Count)
	}
	return rs, nil
}

func decodeHeader(line []byte) (header, error) {
	var h header
	if len(line) > maxHeaderLine {
		return h, fmt.Errorf("spool decode: header line longer than %d bytes", maxHeaderLine)
	}
	if err := decodeStrict(line, &h); err != nil {
		return h, fmt.Errorf("spool decode: header: %w", err)
	}
	if h.Version != Version {
		return h, fmt.Errorf("spool decode: unsupported format version %d (want %d)", h.Version, Version)
	}
	if h.Count < 1 {
		return h, fmt.Errorf("spool decode: header count %d: want at least 1", h.Count)
	}
	return h, nil
}

// decodeStrict decodes line, which must hold exactly one JSON object with no
// unknown fields, into v.
func decodeStrict(line []byte, v any) error {
	if len(line) == 0 || line[0] != '{' {
		return errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON object")
	}
	return nil
}

// fileName returns the spool file name for a Put at t (UTC) with id.
func fileName(t time.Time, id uuid.UUID) string {
	return t.UTC().Format(nameTimeLayout) + "-" + id.String() + nameSuffix
}

// parseName returns the time in a spool file name, and false if name is not
// exactly of the form fileName produces.
func parseName(name string) (time.Time, bool) {
	if len(name) != nameLen || !strings.HasSuffix(name, nameSuffix) {
		return time.Time{}, false
	}
	ts, id, _ := strings.Cut(strings.TrimSuffix(name, nameSuffix), "-")
	t, err := time.Parse(nameTimeLayout, ts)
	if err != nil || t.Format(nameTimeLayout) != ts {
		return time.Time{}, false
	}
	u, err := uuid.Parse(id)
	if err != nil || u.String() != id {
		return time.Time{}, false
	}
	return t, true
}
