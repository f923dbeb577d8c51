package dump

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// appendIndented appends v as indented JSON the way JuiceFS writes the head
// of a dump (goccy/go-json MarshalIndent with two spaces): struct fields in
// declaration order with their json tag names and omitempty, map keys
// sorted as strings, nil slices, maps and pointers as null, empty ones as []
// or {}, and strings escaped by appendJSONString. depth is the nesting level
// of v, so that its inner lines are indented by depth+1 units.
//
// Only the kinds the head contains are supported (structs, strings, bools,
// integers, slices, maps with integer or string keys, pointers); anything
// else is a programming error and reported as such.
func appendIndented(dst []byte, v reflect.Value, depth int) ([]byte, error) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return append(dst, "null"...), nil
		}
		return appendIndented(dst, v.Elem(), depth)
	case reflect.String:
		return appendJSONString(dst, v.String()), nil
	case reflect.Bool:
		return strconv.AppendBool(dst, v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(dst, v.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.AppendUint(dst, v.Uint(), 10), nil
	case reflect.Slice:
		if v.IsNil() {
			return append(dst, "null"...), nil
		}
		return appendIndentedList(dst, v, depth)
	case reflect.Map:
		if v.IsNil() {
			return append(dst, "null"...), nil
		}
		return appendIndentedMap(dst, v, depth)
	case reflect.Struct:
		return appendIndentedStruct(dst, v, depth)
	}
	return dst, fmt.Errorf("dump head: cannot encode a %s", v.Type())
}

func appendIndentedList(dst []byte, v reflect.Value, depth int) ([]byte, error) {
	if v.Len() == 0 {
		return append(dst, '[', ']'), nil
	}
	dst = append(dst, '[')
	for i := range v.Len() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '\n')
		dst = appendIndent(dst, depth+1)
		var err error
		if dst, err = appendIndented(dst, v.Index(i), depth+1); err != nil {
			return dst, err
		}
	}
	dst = append(dst, '\n')
	dst = appendIndent(dst, depth)
	return append(dst, ']'), nil
}

func mapKeyString(k reflect.Value) (string, error) {
	switch k.Kind() {
	case reflect.String:
		return k.String(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(k.Uint(), 10), nil
	}
	return "", fmt.Errorf("dump head: cannot encode a map key of type %s", k.Type())
}

func appendIndentedMap(dst []byte, v reflect.Value, depth int) ([]byte, error) {
	if v.Len() == 0 {
		return append(dst, '{', '}'), nil
	}
	type kv struct {
		key string
		val reflect.Value
	}
	items := make([]kv, 0, v.Len())
	for it := v.MapRange(); it.Next(); {
		k, err := mapKeyString(it.Key())
		if err != nil {
			return dst, err
		}
		items = append(items, kv{k, it.Value()})
	}
	slices.SortFunc(items, func(a, b kv) int { return strings.Compare(a.key, b.key) })
	dst = append(dst, '{')
	for i, it := range items {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendIndentedKey(dst, it.key, it.val, depth); err != nil {
			return dst, err
		}
	}
	dst = append(dst, '\n')
	dst = appendIndent(dst, depth)
	return append(dst, '}'), nil
}

func appendIndentedKey(dst []byte, key string, val reflect.Value, depth int) ([]byte, error) {
	dst = append(dst, '\n')
	dst = appendIndent(dst, depth+1)
	dst = appendJSONString(dst, key)
	dst = append(dst, ':', ' ')
	return appendIndented(dst, val, depth+1)
}

// jsonField is how a struct field is encoded.
type jsonField struct {
	index     int
	name      string
	omitEmpty bool
}

func structFields(t reflect.Type) []jsonField {
	var fields []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		fields = append(fields, jsonField{index: i, name: name, omitEmpty: slices.Contains(strings.Split(opts, ","), "omitempty")})
	}
	return fields
}

// isEmptyValue is encoding/json's notion of empty for omitempty.
func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return v.IsZero()
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}

func appendIndentedStruct(dst []byte, v reflect.Value, depth int) ([]byte, error) {
	n := 0
	for _, f := range structFields(v.Type()) {
		fv := v.Field(f.index)
		if f.omitEmpty && isEmptyValue(fv) {
			continue
		}
		if n == 0 {
			dst = append(dst, '{')
		} else {
			dst = append(dst, ',')
		}
		n++
		var err error
		if dst, err = appendIndentedKey(dst, f.name, fv, depth); err != nil {
			return dst, err
		}
	}
	if n == 0 {
		return append(dst, '{', '}'), nil
	}
	dst = append(dst, '\n')
	dst = appendIndent(dst, depth)
	return append(dst, '}'), nil
}
