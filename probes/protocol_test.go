package probes

import (
	"reflect"
	"strings"
	"testing"
)

// The Go side's protocol words must be the probes' words. This reads each probe's source as
// text and looks for every op, event, behavior, handler result and storage role as a quoted
// string literal ("complete"). It is a tripwire, not a proof: a word that only appears in a
// comment or an unrelated string passes, it cannot tell whether a probe handles an op or
// emits an event correctly (the conformance test in internal/scenario runs them for that),
// and it does not notice a word a probe has that Go lacks.
func TestProbesSpeakTheGoVocabulary(t *testing.T) {
	var words []string
	for _, o := range Ops() {
		words = append(words, string(o))
	}
	for _, e := range EventNames() {
		words = append(words, string(e))
	}
	for _, b := range Behaviors() {
		words = append(words, string(b))
	}
	for _, r := range HandlerResults() {
		words = append(words, string(r))
	}
	for _, r := range StorageRoles() {
		words = append(words, string(r))
	}
	for _, path := range []string{"python/awaprobe.py", "rust/src/main.rs"} {
		src, err := sources.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range words {
			if !strings.Contains(string(src), `"`+w+`"`) {
				t.Errorf("%s never says %q", path, w)
			}
		}
	}
}

// Every spec field the Go side can send is read by both probes: each Spec and Step field's
// JSON name appears in each probe's source (Python reads it as a string key, Rust as a serde
// field). A tripwire like the test above.
func TestProbesReadEveryStepField(t *testing.T) {
	for _, path := range []string{"python/awaprobe.py", "rust/src/main.rs"} {
		src, err := sources.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range []reflect.Type{reflect.TypeFor[Spec](), reflect.TypeFor[Step]()} {
			for i := range st.NumField() {
				name, _, _ := strings.Cut(st.Field(i).Tag.Get("json"), ",")
				if name != "" && name != "op" && !strings.Contains(string(src), name) {
					t.Errorf("%s never reads the %s field %q", path, st.Name(), name)
				}
			}
		}
	}
}
