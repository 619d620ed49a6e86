package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Firecracker decodes request bodies with serde and deny_unknown_fields:
// keys are case-sensitive, unknown and duplicate keys are errors, a missing
// non-Option field is an error, and null is only accepted for Option fields.
// encoding/json is laxer on every one of these points (it matches keys
// case-insensitively, ignores unknown keys and turns null into a no-op), so
// bodies are walked key by key here instead.

// field describes one member of a JSON object the way serde sees it.
type field struct {
	name     string
	required bool // absent is an error ("missing field")
	nullable bool // an Option<T>: null means absent
	set      func(raw json.RawMessage) error
}

// required is a non-Option field without a serde default.
func required[T any](name string, dst *T) field {
	return field{name: name, required: true, set: unmarshalInto(dst)}
}

// defaulted is a non-Option field with #[serde(default)]: it may be absent
// but not null.
func defaulted[T any](name string, dst *T) field {
	return field{name: name, set: unmarshalInto(dst)}
}

// optional is an Option<T> field: absent and null both leave *dst nil.
func optional[T any](name string, dst **T) field {
	return field{name: name, nullable: true, set: func(raw json.RawMessage) error {
		v := new(T)
		if err := json.Unmarshal(raw, v); err != nil {
			return err
		}
		*dst = v
		return nil
	}}
}

// nested is an Option<T> field whose value is itself a strict object.
func nested(name string, decode func(raw json.RawMessage) error) field {
	return field{name: name, nullable: true, set: decode}
}

func unmarshalInto[T any](dst *T) func(json.RawMessage) error {
	return func(raw json.RawMessage) error { return json.Unmarshal(raw, dst) }
}

// decodeObject decodes body, which must be exactly one JSON object, into
// fields. Its errors read like serde_json's.
func decodeObject(body []byte, fields ...field) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("invalid type: %s, expected struct", describeToken(tok))
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return syntaxError(err)
		}
		f, ok := lookupField(fields, key)
		if !ok {
			return fmt.Errorf("unknown field `%s`, expected %s", key, expectedFields(fields))
		}
		if seen[key] {
			return fmt.Errorf("duplicate field `%s`", key)
		}
		seen[key] = true
		if string(raw) == "null" {
			if f.nullable {
				continue
			}
			return fmt.Errorf("invalid type: null for field `%s`", key)
		}
		if err := f.set(raw); err != nil {
			return fmt.Errorf("invalid value for field `%s`: %s", key, describeValueError(err))
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return syntaxError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing characters")
	}
	for _, f := range fields {
		if f.required && !seen[f.name] {
			return fmt.Errorf("missing field `%s`", f.name)
		}
	}
	return nil
}

func lookupField(fields []field, name string) (field, bool) {
	for _, f := range fields {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

func expectedFields(fields []field) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = "`" + f.name + "`"
	}
	return "one of " + strings.Join(names, ", ")
}

func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		if v == '[' {
			return "sequence"
		}
		return "map"
	case string:
		return fmt.Sprintf("string %q", v)
	case bool:
		return fmt.Sprintf("boolean `%t`", v)
	default:
		return fmt.Sprintf("number `%v`", v)
	}
}

func syntaxError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("EOF while parsing a value")
	}
	return fmt.Errorf("invalid JSON: %v", err)
}

// describeValueError trims encoding/json's Go-specific wording.
func describeValueError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("invalid type: %s, expected %s", te.Value, te.Type)
	}
	return err.Error()
}

// enumValue checks that v is one of the variant names serde would accept.
func enumValue(v string, variants ...string) error {
	for _, want := range variants {
		if v == want {
			return nil
		}
	}
	return fmt.Errorf("unknown variant `%s`, expected one of `%s`", v, strings.Join(variants, "`, `"))
}
