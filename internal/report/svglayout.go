package report

import (
	"slices"
	"strings"
)

// Where the support picture's heatmaps, columns and engine labels go, before anything is
// drawn (svg.go draws them).

// blockLayout is one heatmap with its columns placed.
type blockLayout struct {
	pictureBlock
	colX    []float64 // each column's left edge, from the block's left
	spans   []engineSpan
	width   float64
	scenarH float64 // the rotated scenario labels' height
}

type engineSpan struct {
	Engine string
	Lines  []string
	X, W   float64
}

func layoutBlock(pb pictureBlock) blockLayout {
	bl := blockLayout{pictureBlock: pb}
	x := 0.0
	var labelEnd float64 // where the previous engine's label ends
	for i, c := range pb.Grid.Cols {
		if i == 0 || c.Engine != pb.Grid.Cols[i-1].Engine {
			if i > 0 {
				x = max(x-picPitch+picSquare+picEngineGap, labelEnd+picEngineGap)
			}
			sp := engineSpan{Engine: c.Engine, X: x, Lines: engineLines(c.Engine, countEngine(pb.Grid.Cols[i:], c.Engine))}
			for _, l := range sp.Lines {
				labelEnd = max(labelEnd, x+textWidth(l, labelFont, false))
			}
			bl.spans = append(bl.spans, sp)
		}
		bl.colX = append(bl.colX, x)
		sp := &bl.spans[len(bl.spans)-1]
		sp.W = x + picSquare - sp.X
		x += picPitch
		bl.scenarH = max(bl.scenarH, textWidth(c.Scenario, scenarioFont, false))
	}
	bl.width = max(x-picPitch+picSquare, labelEnd, textWidth(pb.Title, labelFont+1, true))
	return bl
}

// countEngine counts the leading columns of engine e.
func countEngine(cols []gridCol, e string) int {
	n := 0
	for n < len(cols) && cols[n].Engine == e {
		n++
	}
	return n
}

// engineLines is an engine's label: one line, or, when a long engine state heads few
// columns, two ("queue_storage:" "ledger").
func engineLines(engine string, cols int) []string {
	w := float64(cols)*picPitch + picEngineGap
	if before, after, ok := strings.Cut(engine, ":"); ok && textWidth(engine, labelFont, false) > w {
		return []string{before + ":", after}
	}
	return []string{engine}
}

// band is heatmaps placed side by side, sharing row labels.
type band struct {
	blocks []blockLayout
	rows   []gridRow // the union of the blocks' rows, in row order (cells unused)
	labelW float64
}

func (bd *band) width() float64 {
	w := bd.labelW
	for i, bl := range bd.blocks {
		if i > 0 {
			w += picBlockGap
		}
		w += bl.width
	}
	return w
}

// bands places the heatmaps side by side, starting a new band where one would pass
// picMaxWidth.
func bands(blocks []pictureBlock) []band {
	var out []band
	for _, pb := range blocks {
		bl := layoutBlock(pb)
		if n := len(out); n > 0 {
			try := out[n-1]
			try.blocks = append(slices.Clip(try.blocks), bl)
			try.finish()
			if try.width() <= picMaxWidth {
				out[n-1] = try
				continue
			}
		}
		bd := band{blocks: []blockLayout{bl}}
		bd.finish()
		out = append(out, bd)
	}
	return out
}

// finish gathers the band's rows and sizes its label column.
func (bd *band) finish() {
	seen := map[rowKey]bool{}
	bd.rows = nil
	for _, bl := range bd.blocks {
		for _, row := range bl.Grid.Rows {
			if !seen[row.Key] {
				seen[row.Key] = true
				bd.rows = append(bd.rows, gridRow{Key: row.Key, Label: row.Label})
			}
		}
	}
	slices.SortFunc(bd.rows, func(a, b gridRow) int { return compareRows(a.Key, b.Key) })
	bd.labelW = textWidth("schema path", labelFont, false) + 8
	for _, row := range bd.rows {
		bd.labelW = max(bd.labelW, textWidth(row.Label, labelFont, false)+8)
	}
}
