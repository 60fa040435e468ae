package report

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"testing"

	"github.com/awacompat/awacompat/internal/results"
)

// Heatmaps that would not fit side by side wrap into bands, each within the width of a
// 1400 px screen.
func TestPictureWraps(t *testing.T) {
	r := &results.Results{Schema: results.SchemaVersion, Target: results.Target{Awa: "0.6.9"}}
	for p := range 5 {
		for _, engine := range []string{"canonical", "queue_storage:columns", "queue_storage:ledger"} {
			for s := range 8 {
				id := fmt.Sprintf("%s.upgraded-from-py-0.%d.0.scenario_%d.producer=py-0.6.9", engine, p, s)
				r.Cells = append(r.Cells, results.Cell{ID: id, Engine: engine, SchemaPath: fmt.Sprintf("upgraded-from-py-0.%d.0", p),
					Scenario: fmt.Sprintf("scenario_%d", s), Roles: map[string]results.Role{"producer": {Artifact: "py-0.6.9", Kind: "python", Version: "0.6.9"}},
					Expected: "pass", Actual: "pass", OK: true})
			}
		}
	}
	r.Summarize()
	bds := bands(pictureBlocks(r))
	if len(bds) < 2 {
		t.Fatalf("%d band(s) for five paths of 24 columns", len(bds))
	}
	for i, bd := range bds {
		if w := bd.width(); w > picMaxWidth {
			t.Errorf("band %d is %.0f px wide, more than %.0f", i, w, picMaxWidth)
		}
	}
	var b bytes.Buffer
	if err := SVG(&b, r, SVGOptions{ReportHref: HTMLFile}); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`<svg[^>]* width="([0-9.]+)"`).FindSubmatch(b.Bytes())
	if w, _ := strconv.ParseFloat(string(m[1]), 64); w > screenW {
		t.Errorf("picture is %.0f px wide", w)
	}
}
