package report

import (
	"fmt"
	"strings"
)

// The picture's look: Okabe-Ito colours (distinct under the common colour-vision
// deficiencies) with a symbol drawn on each, so no square depends on colour alone, and a dark
// palette for prefers-color-scheme: dark. The symbols are paths, not characters, so they need
// no font. Every class and id starts with "awc", because inlined in report.html this style
// sheet applies to the whole page.

// pictureStyle is the picture's style sheet.
const pictureStyle = `<style>
.awc{font-family:"DejaVu Sans",Verdana,"Bitstream Vera Sans",sans-serif}
.awc text{fill:#1f2328}
.awc text.awc-dim{fill:#57606a}
.awc text.awc-mono{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace}
.awc-bg{fill:#fff}
.awc-stripe{fill:#f3f5f7}
.awc-none{fill:#e4e8ec}
.awc-rule{stroke:#8c959f;fill:none}
.awc-g{fill:none;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}
.awc-f-ok{fill:#009E73}.awc-g-ok{stroke:#fff}
.awc-f-expected{fill:#56B4E9}.awc-g-expected{stroke:#00253d}
.awc-f-unexpected{fill:#F0E442}.awc-g-unexpected{stroke:#000}
.awc-f-mismatch{fill:#D55E00}.awc-g-mismatch{stroke:#fff}
.awc-f-error{fill:#CC79A7}.awc-g-error{stroke:#000}
.awc-f-skipped{fill:#b8bec4}.awc-g-skipped{stroke:#000}
.awc a:hover use,.awc a:focus use{opacity:.6}
@media (prefers-color-scheme:dark){
.awc text{fill:#e6edf3}
.awc text.awc-dim{fill:#9198a1}
.awc-bg{fill:#0d1117}
.awc-stripe{fill:#161b22}
.awc-none{fill:#262c36}
.awc-f-skipped{fill:#6e7681}
}
</style>
`

// glyphs draws each class's symbol in a 14 px square: a check for a pass, a bar for a failure
// that was expected, a plus for a pass that was not, a cross for a mismatch, an exclamation
// mark for an error and a question mark for a cell that did not run.
var glyphs = map[string]string{
	classOK:         "M3.5 7.3 6 9.8 10.6 4.3",
	classExpected:   "M3.5 7h7",
	classUnexpected: "M7 3.5v7M3.5 7h7",
	classMismatch:   "M4 4l6 6M10 4l-6 6",
	classError:      "M7 3.2v4.6M7 10.6v.2",
	classSkipped:    "M4.9 5.3a2.1 2.1 0 1 1 3 1.9c-.7.4-.9.8-.9 1.5M7 10.6v.2",
}

// pictureDefs defines three symbols per class: the whole square ("awc-ok"), its top-left
// half ("awc-ok-a") and its bottom-right half ("awc-ok-b") with the symbol at half size, for
// an entry whose cells differ.
func pictureDefs() string {
	var b strings.Builder
	b.WriteString("<defs>\n")
	for _, pc := range pictureClasses {
		c, g := pc.Class, glyphs[pc.Class]
		fmt.Fprintf(&b, `<symbol id="awc-%s" viewBox="0 0 14 14"><rect class="awc-f-%s" width="14" height="14" rx="2"/><path class="awc-g awc-g-%s" d="%s"/></symbol>`+"\n", c, c, c, g)
		fmt.Fprintf(&b, `<symbol id="awc-%s-a" viewBox="0 0 14 14"><path class="awc-f-%s" d="M0 2a2 2 0 0 1 2-2h11.3L0 13.3z"/><path class="awc-g awc-g-%s" transform="translate(.6 .6) scale(.55)" d="%s"/></symbol>`+"\n", c, c, c, g)
		fmt.Fprintf(&b, `<symbol id="awc-%s-b" viewBox="0 0 14 14"><path class="awc-f-%s" d="M14 .7V12a2 2 0 0 1-2 2H.7z"/><path class="awc-g awc-g-%s" transform="translate(5.7 5.7) scale(.55)" d="%s"/></symbol>`+"\n", c, c, c, g)
	}
	b.WriteString("</defs>\n")
	return b.String()
}
