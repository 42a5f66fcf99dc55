package fibrehttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"fibremon"
)

// DecodeResults decodes and validates a POST /api/v1/results body. Decoding
// is strict (unknown fields, trailing data, wrong types, invalid UTF-8 are
// errors) and every error is an Invalid *fibremon.Error naming the field,
// e.g. "results[2].values.loss_ratio". Nothing is returned unless the whole
// batch is valid.
func DecodeResults(body []byte, now time.Time) ([]fibremon.Result, error) {
	if !utf8.Valid(body) {
		return nil, fibremon.FieldErrorf("", "body is not valid UTF-8")
	}
	// The usual body is valid: decode it in one pass. Any body this pass
	// refuses, or whose results do not validate, is decoded again result
	// by result, which names the field at fault.
	var fast struct {
		Results []fibremon.Result `json:"results"`
	}
	if strictDecode(body, &fast) == nil && len(fast.Results) > 0 && len(fast.Results) <= MaxBatchResults &&
		fibremon.ValidateBatch(fast.Results, now) == nil {
		return fast.Results, nil
	}
	return decodeEach(body, now)
}

// decodeEach decodes body result by result, so that an error names the
// field at fault. It accepts exactly the bodies the one-pass decoding of
// DecodeResults accepts (FuzzDecodeOnePass checks it).
func decodeEach(body []byte, now time.Time) ([]fibremon.Result, error) {
	var env struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := strictDecode(body, &env); err != nil {
		return nil, jsonError("", err)
	}
	if env.Results == nil {
		return nil, fibremon.FieldErrorf("results", "missing")
	}
	if len(env.Results) == 0 {
		return nil, fibremon.FieldErrorf("results", "empty batch")
	}
	if len(env.Results) > MaxBatchResults {
		return nil, fibremon.FieldErrorf("results", "%d results in one batch; at most %d", len(env.Results), MaxBatchResults)
	}
	rs := make([]fibremon.Result, len(env.Results))
	for i, raw := range env.Results {
		prefix := fmt.Sprintf("results[%d]", i)
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return nil, fibremon.FieldErrorf(prefix, "null result")
		}
		if err := strictDecode(raw, &rs[i]); err != nil {
			return nil, jsonError(prefix, err)
		}
	}
	if err := fibremon.ValidateBatch(rs, now); err != nil {
		return nil, err
	}
	return rs, nil
}

func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// jsonError turns an encoding/json error into an Invalid error naming the
// field under prefix.
func jsonError(prefix string, err error) error {
	join := func(f string) string {
		switch {
		case prefix == "":
			return f
		case f == "":
			return prefix
		}
		return prefix + "." + f
	}
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	var timeErr *time.ParseError
	switch {
	case errors.As(err, &typeErr):
		return fibremon.FieldErrorf(join(typeErr.Field), "wrong type: got JSON %s, want %s", typeErr.Value, typeErr.Type)
	case errors.As(err, &syntaxErr):
		return fibremon.FieldErrorf(prefix, "malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case errors.As(err, &timeErr):
		return fibremon.FieldErrorf(join("start"), "not an RFC 3339 time: %q", timeErr.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fibremon.FieldErrorf(prefix, "truncated JSON")
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fibremon.FieldErrorf(join(strings.Trim(name, `"`)), "unknown field")
	}
	return fibremon.FieldErrorf(prefix, "%s", strings.TrimPrefix(msg, "json: "))
}
