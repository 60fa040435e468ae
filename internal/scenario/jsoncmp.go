package scenario

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
)

// jsonDiff compares two JSON documents exactly by value and returns "" when they are equal,
// else where they first differ ("$.a.b[2]: ..."). Unlike jsonEqual it never goes through
// float64: numbers are compared as exact rationals, so 9007199254740993 differs from
// 9007199254740992 and 1e-300 equals 0.000…001, whatever text each side printed.
func jsonDiff(a, b []byte) string {
	x, err := decodeExact(a)
	if err != nil {
		return "left side is not JSON: " + err.Error()
	}
	y, err := decodeExact(b)
	if err != nil {
		return "right side is not JSON: " + err.Error()
	}
	return valueDiff("$", x, y)
}

func decodeExact(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return v, nil
}

func valueDiff(path string, x, y any) string {
	switch xv := x.(type) {
	case map[string]any:
		yv, ok := y.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: object vs %s", path, kindOf(y))
		}
		return objectDiff(path, xv, yv)
	case []any:
		yv, ok := y.([]any)
		if !ok {
			return fmt.Sprintf("%s: array vs %s", path, kindOf(y))
		}
		if len(xv) != len(yv) {
			return fmt.Sprintf("%s: %d elements vs %d", path, len(xv), len(yv))
		}
		for i := range xv {
			if d := valueDiff(fmt.Sprintf("%s[%d]", path, i), xv[i], yv[i]); d != "" {
				return d
			}
		}
		return ""
	case json.Number:
		yv, ok := y.(json.Number)
		if !ok {
			return fmt.Sprintf("%s: number %s vs %s", path, xv, kindOf(y))
		}
		rx, okx := new(big.Rat).SetString(string(xv))
		ry, oky := new(big.Rat).SetString(string(yv))
		if !okx || !oky || rx.Cmp(ry) != 0 {
			return fmt.Sprintf("%s: %s vs %s", path, short(xv), short(yv))
		}
		return ""
	case string:
		yv, ok := y.(string)
		if !ok {
			return fmt.Sprintf("%s: string vs %s", path, kindOf(y))
		}
		if xv != yv {
			return fmt.Sprintf("%s: strings differ: %s", path, stringDiff(xv, yv))
		}
		return ""
	case bool:
		if yv, ok := y.(bool); !ok || yv != xv {
			return fmt.Sprintf("%s: %v vs %s", path, xv, short(y))
		}
		return ""
	case nil:
		if y != nil {
			return fmt.Sprintf("%s: null vs %s", path, short(y))
		}
		return ""
	}
	return fmt.Sprintf("%s: unexpected value %T", path, x)
}

// objectDiff compares two objects key by key, in key order.
func objectDiff(path string, xv, yv map[string]any) string {
	keys := map[string]bool{}
	for k := range xv {
		keys[k] = true
	}
	for k := range yv {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		p := path + "." + k
		xe, inX := xv[k]
		ye, inY := yv[k]
		switch {
		case !inX:
			return fmt.Sprintf("%s: missing on the left, %s on the right", p, short(ye))
		case !inY:
			return fmt.Sprintf("%s: %s on the left, missing on the right", p, short(xe))
		}
		if d := valueDiff(p, xe, ye); d != "" {
			return d
		}
	}
	return ""
}

// stringDiff describes where two strings first differ.
func stringDiff(a, b string) string {
	ra, rb := []rune(a), []rune(b)
	i := 0
	for i < len(ra) && i < len(rb) && ra[i] == rb[i] {
		i++
	}
	ctx := func(r []rune) string {
		end := min(len(r), i+12)
		return fmt.Sprintf("%+q", string(r[i:end]))
	}
	return fmt.Sprintf("lengths %d vs %d runes (%d vs %d bytes), first difference at rune %d: %s vs %s",
		len(ra), len(rb), len(a), len(b), i, ctx(ra), ctx(rb))
}

func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case json.Number:
		return "number"
	case string:
		return "string"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func short(v any) string {
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strings.ReplaceAll(s, "\n", " ")
}
