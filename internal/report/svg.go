package report

import (
	"fmt"
	"html"
	"io"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/awacompat/awacompat/internal/redact"
	"github.com/awacompat/awacompat/internal/results"
)

// SVGFile is the standalone support picture WriteFiles puts next to report.html.
const SVGFile = "support.svg"

// SVGOptions says where the picture's entries link.
type SVGOptions struct {
	// ReportHref is the HTML report each entry links into, relative to where the SVG is saved:
	// "report.html" when it sits next to it, as WriteFiles puts it. Each entry links to
	// ReportHref#cell-<id>.
	ReportHref string
}

// SVG writes the support picture as a standalone SVG image (for a README, a pull request
// comment or $GITHUB_STEP_SUMMARY): the headline, the cells that differ from their expectation
// with their rerun commands, a legend, and one heatmap per schema path. See picture.go.
func SVG(w io.Writer, r *results.Results, opts SVGOptions) error {
	_, err := io.WriteString(w, drawPicture(printable(r), opts.ReportHref, true))
	return err
}

// Geometry, in CSS pixels.
const (
	picMargin    = 12.0
	picPitch     = 16.0 // distance between squares
	picSquare    = 14.0
	picEngineGap = 6.0  // extra space between engine groups
	picBlockGap  = 28.0 // between the heatmaps of two schema paths
	// picMaxWidth is where a row of heatmaps wraps: a 1400 px screen, less the HTML page's margins.
	picMaxWidth  = 1340.0
	labelFont    = 11.0
	scenarioFont = 10.5
	titleFont    = 15.0
	lineHeight   = 14.0
	maxProblems  = 12 // cells listed above a standalone picture; the rest are counted
)

// picture accumulates the SVG body and the height used so far.
type picture struct {
	b     strings.Builder
	href  string // the report the entries link into; "" for the same document
	y     float64
	width float64
}

// drawPicture renders the picture. standalone adds what the HTML report shows in HTML
// instead: the headline, the list of cells that differ, an opaque background and a
// document title.
func drawPicture(r *results.Results, href string, standalone bool) string {
	p := &picture{href: href, y: 4}
	if standalone {
		p.y = picMargin
	}
	bds := bands(pictureBlocks(r))
	bandsW := 0.0
	for _, bd := range bds {
		bandsW = max(bandsW, bd.width())
	}
	p.width = bandsW
	if standalone {
		p.headline(r)
	}
	// The legend goes to the right of the heatmaps when there is room (height is what a
	// screen lacks), else above them.
	legendX := picMargin + bandsW + picBlockGap
	legendRight := len(bds) > 0 && bandsW+picBlockGap+legendWidth() <= picMaxWidth
	if !legendRight {
		p.legendRow()
	}
	for i, bd := range bds {
		if i > 0 {
			p.y += 10
		}
		legendBottom := 0.0
		if i == 0 && legendRight {
			legendBottom = p.legendColumn(legendX, p.y)
		}
		p.band(bd)
		p.y = max(p.y, legendBottom)
	}
	if len(bds) == 0 {
		p.text(picMargin, p.y+lineHeight, "awc-dim", labelFont, "no cells")
		p.y += lineHeight
	}
	width := math.Ceil(p.width + 2*picMargin)
	height := math.Ceil(p.y + picMargin)
	if !standalone {
		height = math.Ceil(p.y + 4)
	}
	var out strings.Builder
	// Inlined in HTML, an <svg> needs no namespace (and the report names no URL at all).
	xmlns := ""
	if standalone {
		xmlns = ` xmlns="http://www.w3.org/2000/svg"`
	}
	fmt.Fprintf(&out, `<svg%s class="awc" width="%s" height="%s" viewBox="0 0 %s %s" font-size="%s"`, xmlns, num(width), num(height), num(width), num(height), num(labelFont))
	label := fmt.Sprintf("awa %s support: %d of %d cells as expected", r.Target.Awa, r.Summary.OK, r.Summary.Total)
	if !standalone {
		fmt.Fprintf(&out, ` role="group" aria-label="%s">`+"\n", esc(label))
	} else {
		fmt.Fprintf(&out, ">\n<title>%s</title>\n", esc(label))
	}
	out.WriteString(pictureStyle)
	out.WriteString(pictureDefs())
	if standalone {
		fmt.Fprintf(&out, `<rect class="awc-bg" width="%s" height="%s"/>`+"\n", num(width), num(height))
	}
	out.WriteString(p.b.String())
	out.WriteString("</svg>\n")
	return out.String()
}

// headline writes the title, what the picture shows, and the cells that differ from their
// expectation with their rerun commands.
func (p *picture) headline(r *results.Results) {
	mark := "awc-ok"
	if !allOK(r) {
		mark = "awc-mismatch"
	}
	p.use(picMargin, p.y+2, 14, mark)
	title := fmt.Sprintf("awa %s: %d of %d cells as expected", r.Target.Awa, r.Summary.OK, r.Summary.Total)
	p.textBold(picMargin+20, p.y+titleFont-1, titleFont, title)
	p.width = max(p.width, 20+textWidth(title, titleFont, true))
	p.y += titleFont + 6
	facts := fmt.Sprintf("schema version %d", r.Target.SchemaVersion)
	if r.Matrix != "" {
		facts += ", matrix " + displayPath(r.Matrix)
	}
	if r.Postgres.Version != "" {
		facts += ", PostgreSQL " + pgVersion(r.Postgres.Version)
	}
	facts += ". Rows: client and role; columns: engine and scenario. Point at a square for its cells; click to open the cell in the HTML report."
	p.text(picMargin, p.y+labelFont, "awc-dim", labelFont, facts)
	p.width = max(p.width, textWidth(facts, labelFont, false))
	p.y += lineHeight + 4
	if note := runNote(r); note != "" {
		p.text(picMargin, p.y+labelFont, "", labelFont, clip(note, 200))
		p.width = max(p.width, textWidth(clip(note, 200), labelFont, false))
		p.y += lineHeight + 4
	}
	bad, notRun := problems(r)
	for i, c := range bad {
		if i == maxProblems {
			line := fmt.Sprintf("and %d more that differ, in the HTML report", len(bad)-maxProblems)
			p.text(picMargin+18, p.y+labelFont, "", labelFont, line)
			p.y += lineHeight
			break
		}
		line := fmt.Sprintf("%s: %s", c.ID, expectedGot(c))
		rerun := "rerun: " + c.Repro
		fmt.Fprintf(&p.b, `<a href="%s"><title>%s</title>`, esc(p.cellHref(c.ID)), esc(clip(c.Detail, tipDetailLen)))
		p.use(picMargin, p.y+1, 12, "awc-"+classOf(c))
		p.text(picMargin+18, p.y+labelFont, "", labelFont, line)
		p.b.WriteString("</a>\n")
		p.text(picMargin+18, p.y+lineHeight+labelFont, "awc-mono", labelFont-1, rerun)
		p.width = max(p.width, 18+textWidth(line, labelFont, false), 18+monoWidth(rerun, labelFont-1))
		p.y += 2*lineHeight + 3
	}
	if notRun > 0 {
		p.text(picMargin, p.y+labelFont, "", labelFont, fmt.Sprintf("%d %s not run.", notRun, plural(notRun, "cell did", "cells did")))
		p.y += lineHeight
	}
	p.y += 4
}

// legendItems are the legend's entries: one per outcome class, then the split square.
func legendItems() []struct{ Label, A, B string } {
	var out []struct{ Label, A, B string }
	for _, pc := range pictureClasses {
		out = append(out, struct{ Label, A, B string }{pc.Label, "awc-" + pc.Class, ""})
	}
	return append(out, struct{ Label, A, B string }{"two outcomes: best / worst", "awc-" + classOK + "-a", "awc-" + classExpected + "-b"})
}

// legendNotes say how to read the picture, under the legend column.
var legendNotes = []string{"rows: client and role", "columns: engine and scenario", "point at a square for its cells,", "click it to open the cell"}

func legendWidth() float64 {
	w := 0.0
	for _, it := range legendItems() {
		w = max(w, 18+textWidth(it.Label, labelFont, false))
	}
	for _, n := range legendNotes {
		w = max(w, textWidth(n, labelFont, false))
	}
	return w
}

func (p *picture) legendSquare(x, y float64, a, b string) {
	p.use(x, y, picSquare, a)
	if b != "" {
		p.use(x, y, picSquare, b)
	}
}

// legendRow writes the legend on one line, above the heatmaps.
func (p *picture) legendRow() {
	x := picMargin
	for _, it := range legendItems() {
		p.legendSquare(x, p.y, it.A, it.B)
		p.text(x+18, p.y+11, "", labelFont, it.Label)
		x += 18 + textWidth(it.Label, labelFont, false) + 14
	}
	p.width = max(p.width, x-picMargin)
	p.y += picSquare + 8
}

// legendColumn writes the legend as a column at (x, y), right of the heatmaps, and returns
// where it ends.
func (p *picture) legendColumn(x, y float64) float64 {
	y += labelFont + 6
	for _, it := range legendItems() {
		p.legendSquare(x, y, it.A, it.B)
		p.text(x+18, y+11, "", labelFont, it.Label)
		y += picPitch + 4
	}
	y += 8
	for _, n := range legendNotes {
		p.text(x, y+11, "awc-dim", labelFont, n)
		y += lineHeight
	}
	p.width = max(p.width, x-picMargin+legendWidth())
	return y
}

// band draws heatmaps side by side: schema path titles, engine labels, rotated scenario
// labels, then one row per client and role.
func (p *picture) band(bd band) {
	lines := 1
	scenarH := 0.0
	for _, bl := range bd.blocks {
		for _, sp := range bl.spans {
			lines = max(lines, len(sp.Lines))
		}
		scenarH = max(scenarH, bl.scenarH)
	}
	top := p.y
	engineTop := top + labelFont + 6
	engineBottom := engineTop + float64(lines)*12 + 2
	labelBottom := engineBottom + 4 + scenarH
	rowsTop := labelBottom + 5
	left := picMargin + bd.labelW
	// The blocks' titles are schema paths; the label column says so once.
	p.textDim(left-6, top+labelFont, "schema path")
	p.textDim(left-6, engineTop+10, "engine")
	p.textDim(left-6, labelBottom, "scenario")
	rowIndex := map[rowKey]int{}
	for i, row := range bd.rows {
		rowIndex[row.Key] = i
		y := rowsTop + float64(i)*picPitch
		if i%2 == 1 {
			fmt.Fprintf(&p.b, `<rect class="awc-stripe" x="%s" y="%s" width="%s" height="%s"/>`+"\n", num(picMargin), num(y-1), num(bd.width()), num(picPitch))
		}
		p.textEnd(left-6, y+picSquare-3, row.Label)
	}
	for _, bl := range bd.blocks {
		p.textBold(left, top+labelFont, labelFont+1, bl.Title)
		for _, sp := range bl.spans {
			for j, l := range sp.Lines {
				p.text(left+sp.X, engineTop+10+float64(j)*12, "", labelFont, l)
			}
			fmt.Fprintf(&p.b, `<path class="awc-rule" d="M%s %sh%s"/>`+"\n", num(left+sp.X), num(engineBottom+1), num(sp.W))
		}
		for i, c := range bl.Grid.Cols {
			cx := left + bl.colX[i] + picSquare/2
			fmt.Fprintf(&p.b, `<text transform="translate(%s %s) rotate(-90)" font-size="%s">%s</text>`+"\n", num(cx+3.5), num(labelBottom), num(scenarioFont), esc(c.Scenario))
		}
		var empty strings.Builder
		for _, row := range bl.Grid.Rows {
			y := rowsTop + float64(rowIndex[row.Key])*picPitch
			for i, gc := range row.Cells {
				x := left + bl.colX[i]
				if len(gc.Groups) == 0 {
					fmt.Fprintf(&empty, "M%s %sh14v14h-14z", num(x), num(y))
					continue
				}
				p.entry(x, y, newEntry(gc, row, bl.Grid.Cols[i]))
			}
		}
		// Rows this block lacks are empty too, so every row reads across the whole band.
		for _, row := range bd.rows {
			if !slices.ContainsFunc(bl.Grid.Rows, func(g gridRow) bool { return g.Key == row.Key }) {
				y := rowsTop + float64(rowIndex[row.Key])*picPitch
				for i := range bl.Grid.Cols {
					fmt.Fprintf(&empty, "M%s %sh14v14h-14z", num(left+bl.colX[i]), num(y))
				}
			}
		}
		if empty.Len() > 0 {
			fmt.Fprintf(&p.b, `<path class="awc-none" d="%s"/>`+"\n", empty.String())
		}
		left += bl.width + picBlockGap
	}
	p.y = rowsTop + float64(len(bd.rows))*picPitch
}

// entry draws one square, linked to its cell, with its tooltip.
func (p *picture) entry(x, y float64, e entry) {
	fmt.Fprintf(&p.b, `<a href="%s"><title>%s</title>`, esc(p.cellHref(e.Link.ID)), esc(e.Tip))
	if e.Best == e.Worst {
		p.use(x, y, picSquare, "awc-"+e.Worst)
	} else {
		p.use(x, y, picSquare, "awc-"+e.Best+"-a")
		p.use(x, y, picSquare, "awc-"+e.Worst+"-b")
	}
	p.b.WriteString("</a>\n")
}

func (p *picture) cellHref(id string) string {
	return p.href + "#" + url.PathEscape(anchor(id))
}

func (p *picture) use(x, y, size float64, symbol string) {
	fmt.Fprintf(&p.b, `<use href="#%s" x="%s" y="%s" width="%s" height="%s"/>`, symbol, num(x), num(y), num(size), num(size))
}

func (p *picture) text(x, y float64, class string, size float64, s string) {
	attr := ""
	if class != "" {
		attr = ` class="` + class + `"`
	}
	if size != labelFont {
		attr += ` font-size="` + num(size) + `"`
	}
	fmt.Fprintf(&p.b, `<text x="%s" y="%s"%s>%s</text>`+"\n", num(x), num(y), attr, esc(s))
}

func (p *picture) textBold(x, y, size float64, s string) {
	fmt.Fprintf(&p.b, `<text x="%s" y="%s" font-size="%s" font-weight="bold">%s</text>`+"\n", num(x), num(y), num(size), esc(s))
}

func (p *picture) textDim(x, y float64, s string) {
	fmt.Fprintf(&p.b, `<text x="%s" y="%s" text-anchor="end" class="awc-dim">%s</text>`+"\n", num(x), num(y), esc(s))
}

func (p *picture) textEnd(x, y float64, s string) {
	fmt.Fprintf(&p.b, `<text x="%s" y="%s" text-anchor="end">%s</text>`+"\n", num(x), num(y), esc(s))
}

// esc makes s safe as SVG (XML) text or attribute: markup escaped, and no control characters,
// which XML 1.0 does not allow at all.
func esc(s string) string { return html.EscapeString(redact.Printable(s)) }

// num formats a coordinate to a tenth of a pixel.
func num(f float64) string {
	return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64)
}

// pgVersion is the server version without the packager's suffix: "15.18".
func pgVersion(v string) string {
	if i := strings.IndexByte(v, ' '); i > 0 {
		return v[:i]
	}
	return v
}
