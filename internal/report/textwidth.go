package report

import "unicode/utf8"

// The support picture is laid out before any browser sees it, so it estimates how wide its
// labels are. dejavuSans holds the advance widths of DejaVu Sans (the first font the picture
// asks for, and the one Debian's browsers fall back to) for ASCII 32..126, in thousandths of an
// em, read from DejaVuSans.ttf 2.37. Verdana, the next choice on macOS and Windows, is about as
// wide; textWidth adds a margin for it.
var dejavuSans = [95]uint16{
	318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337,
	636, 636, 636, 636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 531,
	1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656, 557, 863, 748, 787,
	603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390, 838, 500,
	500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612,
	635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838,
}

// textWidth estimates the width in pixels of s set in DejaVu Sans at size px (bold: about 10%
// wider), erring wide.
func textWidth(s string, size float64, bold bool) float64 {
	var em float64
	for _, r := range s {
		if r >= 32 && r <= 126 {
			em += float64(dejavuSans[r-32]) / 1000
		} else {
			em += 0.8
		}
	}
	w := em * size * 1.05
	if bold {
		w *= 1.1
	}
	return w
}

// monoWidth estimates the width of s in a monospace font (DejaVu Sans Mono: 0.602 em a
// character), erring wide.
func monoWidth(s string, size float64) float64 {
	return float64(utf8.RuneCountInString(s)) * 0.602 * size * 1.05
}
