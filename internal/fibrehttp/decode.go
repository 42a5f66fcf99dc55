package fibrehttp

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"fibremon"
)

// DecodeResults decodes and validates a POST /api/v1/results body. Decoding
// is strict and every error is an Invalid *fibremon.Error naming the field,
// e.g. "results[2].values.loss_ratio": unknown fields, names that differ
// from the wire format's only in case ("ID"), a name given twice in one
// object (the last value would otherwise win unseen), trailing data, wrong
// types, invalid UTF-8 and lone UTF-16 surrogates ("\ud800") are all
// refused. Nothing is returned unless the whole batch is valid.
//
// The decoder is github.com/go-json-experiment/json (the proposed
// encoding/json/v2), whose defaults are those rules; encoding/json accepts
// every one of those bodies.
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
		Results []jsontext.Value `json:"results"`
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

// strictDecode decodes data into v. The defaults of the decoder already
// refuse duplicate names, match names case-sensitively and refuse invalid
// UTF-8 (lone surrogates included) and trailing data; unknown names are
// refused too.
func strictDecode(data []byte, v any) error {
	return json.Unmarshal(data, v, json.RejectUnknownMembers(true))
}

// wireNames are the JSON names of the request, to tell a client that sent
// one in another case which name it meant.
var wireNames = func() map[string]string {
	m := map[string]string{"results": "results"}
	t := reflect.TypeFor[fibremon.Result]()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			m[strings.ToLower(name)] = name
		}
	}
	return m
}()

// jsonError turns an error of the decoder into an Invalid error naming the
// field under prefix.
func jsonError(prefix string, err error) error {
	var semErr *json.SemanticError
	var synErr *jsontext.SyntacticError
	switch {
	case errors.As(err, &semErr):
		field := joinField(prefix, pointerField(semErr.JSONPointer))
		var timeErr *time.ParseError
		switch {
		case errors.Is(semErr.Err, json.ErrUnknownName):
			name := semErr.JSONPointer.LastToken()
			if want, ok := wireNames[strings.ToLower(name)]; ok && want != name {
				return fibremon.FieldErrorf(field, "unknown field (names are case-sensitive: %q)", want)
			}
			return fibremon.FieldErrorf(field, "unknown field")
		case errors.As(semErr.Err, &timeErr):
			return fibremon.FieldErrorf(field, "not an RFC 3339 time: %.40q", timeErr.Value)
		case semErr.GoType != nil && semErr.JSONKind != 0 && semErr.Err == nil:
			return fibremon.FieldErrorf(field, "wrong type: got JSON %s, want %s", kindName(semErr.JSONKind), goTypeName(semErr.GoType))
		case semErr.JSONKind == '0' && semErr.Err != nil:
			return fibremon.FieldErrorf(field, "number %.40s: %v", semErr.JSONValue, semErr.Err)
		case semErr.Err != nil:
			return fibremon.FieldErrorf(field, "%v", semErr.Err)
		}
		return fibremon.FieldErrorf(field, "cannot decode JSON %s", kindName(semErr.JSONKind))
	case errors.As(err, &synErr):
		field := joinField(prefix, pointerField(synErr.JSONPointer))
		if errors.Is(synErr.Err, jsontext.ErrDuplicateName) {
			// The pointer ends with the name given twice.
			return fibremon.FieldErrorf(field, "duplicate field %q: each name once per object", synErr.JSONPointer.LastToken())
		}
		msg := synErr.Err.Error()
		if strings.Contains(msg, "unexpected EOF") {
			return fibremon.FieldErrorf(field, "truncated JSON")
		}
		return fibremon.FieldErrorf(field, "malformed JSON at byte %d: %s", synErr.ByteOffset, msg)
	}
	return fibremon.FieldErrorf(prefix, "%v", err)
}

// kindName names a kind of JSON value.
func kindName(k jsontext.Kind) string {
	switch k {
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	}
	return k.String()
}

// goTypeName names a Go type as the wire format does.
func goTypeName(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[time.Time]():
		return "RFC 3339 time string"
	case reflect.TypeFor[fibremon.Kind]():
		return "string"
	}
	switch t.Kind() {
	case reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.String:
		return "string"
	case reflect.Slice:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return t.String()
}

// Bounds of a field path made from a JSON Pointer: the request is four
// levels deep (results, index, values, name), and a client's name is
// echoed only in part, so a hostile body cannot make a huge error.
const (
	maxFieldTokens   = 4
	maxFieldTokenLen = 64
)

// pointerField turns a JSON Pointer ("/results/2/values/loss_ratio") into
// the field path of the error body ("results[2].values.loss_ratio"). An
// array index is a token of digits after "results", the one array of the
// request; anywhere else (a value's name) digits are a name. Past
// maxFieldTokens the path names the deepest member of the request the
// error is in.
func pointerField(p jsontext.Pointer) string {
	var b strings.Builder
	n := 0
	for tok := range p.Tokens() {
		if n++; n > maxFieldTokens {
			break
		}
		if len(tok) > maxFieldTokenLen {
			tok = strings.ToValidUTF8(tok[:maxFieldTokenLen], "") + "…"
		}
		if _, err := strconv.Atoi(tok); err == nil && n == 2 && b.String() == "results" {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

func joinField(prefix, f string) string {
	switch {
	case prefix == "":
		return f
	case f == "":
		return prefix
	}
	return prefix + "." + f
}
