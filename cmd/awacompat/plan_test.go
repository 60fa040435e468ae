package main

import (
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"testing"
)

// The JSON plan names its fields as results.json does. The reference is a results.json the
// runner really wrote (docs/example-run, a run of cells of the shipped matrix): every key of a
// planned cell, template, artifact and target must be a key of the same object there, and the
// fields that say what a cell is must hold the same values for the same cell.
func TestPlanJSONSpeaksResultsJSON(t *testing.T) {
	code, stdout, stderr := runCLI(t, "plan", "--format", "json", "../../matrix.yaml")
	if code != exitOK {
		t.Fatalf("plan: exit %d\n%s", code, stderr)
	}
	var plan map[string]any
	if err := json.Unmarshal([]byte(stdout), &plan); err != nil {
		t.Fatalf("plan JSON: %v\n%s", err, stdout)
	}
	b, err := os.ReadFile("../../docs/example-run/results.json")
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}

	keysWithin(t, "target", field(t, plan, "target"), field(t, rec, "target"), "awa", "expected_schema_version")
	for _, list := range []struct {
		name  string
		same  []string // keys whose values must agree
		must  []string // keys every planned object has
		byKey string
	}{
		{"templates", []string{"name", "schema_path", "engine"}, []string{"name", "schema_path", "engine"}, "name"},
		{"artifacts", []string{"name", "kind", "version"}, []string{"name", "kind", "version"}, "name"},
		{"cells", []string{"id", "engine", "schema_path", "scenario", "roles"},
			[]string{"id", "engine", "schema_path", "scenario", "roles", "expected", "rule", "because", "basis"}, "id"},
	} {
		recorded := map[string]map[string]any{}
		for _, o := range objs(t, rec, list.name) {
			recorded[o[list.byKey].(string)] = o
		}
		shared := 0
		for _, p := range objs(t, plan, list.name) {
			for _, k := range list.must {
				if _, ok := p[k]; !ok {
					t.Errorf("%s: planned %v lacks %q", list.name, p[list.byKey], k)
				}
			}
			r, ok := recorded[p[list.byKey].(string)]
			if !ok {
				continue
			}
			shared++
			keysWithin(t, list.name+" "+p[list.byKey].(string), p, r, list.same...)
		}
		if shared == 0 {
			t.Errorf("%s: no planned entry is in the example run: nothing was compared", list.name)
		}
	}
	for _, c := range objs(t, plan, "cells") {
		for role := range field(t, c, "roles") {
			if got := sortedKeys(field(t, field(t, c, "roles"), role)); !reflect.DeepEqual(got, []string{"artifact", "kind", "version"}) {
				t.Errorf("cell %v role %s has keys %v, want artifact, kind, version", c["id"], role, got)
			}
		}
	}
}

// keysWithin checks that every key of planned is a key of recorded, and that the keys in same
// hold equal values in both.
func keysWithin(t *testing.T, what string, planned, recorded map[string]any, same ...string) {
	t.Helper()
	for k := range planned {
		if _, ok := recorded[k]; !ok {
			t.Errorf("%s: the plan's key %q is not a results.json key (it has %v)", what, k, sortedKeys(recorded))
		}
	}
	for _, k := range same {
		if !reflect.DeepEqual(planned[k], recorded[k]) {
			t.Errorf("%s: %s is %v in the plan, %v in results.json", what, k, planned[k], recorded[k])
		}
	}
}

// field is the object under key in m.
func field(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	o, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("want an object under %q, got %T (keys: %v)", key, m[key], sortedKeys(m))
	}
	return o
}

// objs is the array of objects under key in m.
func objs(t *testing.T, m map[string]any, key string) []map[string]any {
	t.Helper()
	list, ok := m[key].([]any)
	if !ok {
		t.Fatalf("want an array under %q, got %T (keys: %v)", key, m[key], sortedKeys(m))
	}
	var out []map[string]any
	for i, e := range list {
		o, ok := e.(map[string]any)
		if !ok {
			t.Fatalf("%s[%d] is %T, not an object", key, i, e)
		}
		out = append(out, o)
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
