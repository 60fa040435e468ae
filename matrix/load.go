package matrix

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/awacompat/awacompat/internal/pgbin"
	"github.com/awacompat/awacompat/internal/version"
	"go.yaml.in/yaml/v3"
)

// LoadError is a problem in matrix.yaml at a position.
type LoadError struct {
	Pos Pos
	Msg string
}

func (e *LoadError) Error() string { return e.Pos.String() + ": " + e.Msg }

// Errors collects every LoadError found, so a user fixes them in one pass.
type Errors []*LoadError

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// MaxFileSize bounds matrix.yaml: a matrix is a page of text, not data.
const MaxFileSize = 1 << 20

// Load reads and validates the matrix file at path. Only a regular file is read (a FIFO or a
// device would block or never end), and only up to MaxFileSize.
func Load(path string) (*Matrix, error) {
	// Stat before opening: opening a FIFO blocks until a writer comes.
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read matrix: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("read matrix %s: not a regular file (%s)", path, st.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read matrix: %w", err)
	}
	defer f.Close()
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("read matrix %s: %d bytes, more than the %d a matrix may have", path, st.Size(), MaxFileSize)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read matrix: %w", err)
	}
	return Parse(path, b)
}

// Parse validates matrix YAML held in memory; file names it in errors.
func Parse(file string, data []byte) (*Matrix, error) {
	if len(data) > MaxFileSize {
		return nil, Errors{{Pos: Pos{file, 1, 1}, Msg: fmt.Sprintf("%d bytes, more than the %d a matrix may have", len(data), MaxFileSize)}}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, yamlSyntaxError(file, err)
	}
	var second yaml.Node
	if err := dec.Decode(&second); err == nil {
		return nil, Errors{{Pos: Pos{file, max(second.Line, 1), 1}, Msg: "a second YAML document: a matrix file holds exactly one (remove the --- separator)"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlSyntaxError(file, err)
	}
	l := &loader{file: file}
	m := l.matrix(&doc)
	if len(l.errs) > 0 {
		return nil, l.errs
	}
	return m, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlSyntaxError(file string, err error) error {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Errors{{Pos: Pos{file, line, 1}, Msg: m[2]}}
	}
	if errors.Is(err, io.EOF) { // the decoder found no document
		return Errors{{Pos: Pos{file, 1, 1}, Msg: "empty file"}}
	}
	return Errors{{Pos: Pos{file, 1, 1}, Msg: clipValue(err.Error())}}
}

type loader struct {
	file string
	errs Errors
}

func (l *loader) pos(n *yaml.Node) Pos { return Pos{l.file, n.Line, n.Column} }

func (l *loader) errf(n *yaml.Node, format string, args ...any) {
	l.errs = append(l.errs, &LoadError{Pos: l.pos(n), Msg: fmt.Sprintf(format, args...)})
}

// fields walks a mapping node, calling handle for each known key and reporting unknown ones.
func (l *loader) fields(n *yaml.Node, what string, handle map[string]func(v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		l.errf(n, "%s: expected a mapping, got %s", what, kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f, ok := handle[k.Value]
		if !ok {
			known := make([]string, 0, len(handle))
			for name := range handle {
				known = append(known, name)
			}
			slices.Sort(known)
			l.errf(k, "%s: unknown key %q%s (known: %s)", what, k.Value, didYouMean(k.Value, known), strings.Join(known, ", "))
			continue
		}
		if seen[k.Value] {
			l.errf(k, "%s: key %q given twice", what, k.Value)
			continue
		}
		seen[k.Value] = true
		f(v)
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", clipValue(n.Value))
	}
	return "nothing"
}

// pairs lists a mapping's key/value pairs, reporting a key given twice (YAML would let the
// last one silently win).
func (l *loader) pairs(n *yaml.Node, what string) [][2]*yaml.Node {
	var out [][2]*yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			l.errf(k, "%s: key %q given twice", what, clipValue(k.Value))
			continue
		}
		seen[k.Value] = true
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out
}

// resolve follows YAML aliases (*name) to the anchored node, so a list of artifacts can be
// written once (&clients) and reused.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func (l *loader) str(n *yaml.Node, what string) string {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		l.errf(n, "%s: expected a string, got %s", what, kindName(n))
		return ""
	}
	return n.Value
}

func (l *loader) strList(n *yaml.Node, what string) ([]string, []*yaml.Node) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}, []*yaml.Node{n}
	}
	if n.Kind != yaml.SequenceNode {
		l.errf(n, "%s: expected a list, got %s", what, kindName(n))
		return nil, nil
	}
	var out []string
	for _, item := range n.Content {
		out = append(out, l.str(item, what))
	}
	return out, n.Content
}

func (l *loader) duration(n *yaml.Node, what string) time.Duration {
	s := l.str(n, what)
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		l.errf(n, "%s: %q is not a positive duration like 90s or 2m", what, s)
		return 0
	}
	return d
}

// exactVersion reads an exact release or pre-release in either spelling (0.6.0-rc.4 or
// 0.6.0rc4). A number (0.6, unquoted) is refused like any partial version.
func (l *loader) exactVersion(n *yaml.Node, what string) (version.Version, bool) {
	s := l.str(n, what)
	if s == "" {
		l.errf(n, "%s: version is empty", what)
		return version.Version{}, false
	}
	v, err := version.Parse(s)
	if err != nil {
		l.errf(n, "%s: %v", what, err)
		return version.Version{}, false
	}
	return v, true
}

func (l *loader) matrix(doc *yaml.Node) *Matrix {
	m := &Matrix{File: l.file, Artifacts: map[string]Artifact{}}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		l.errf(doc, "empty file")
		return m
	}
	root := doc.Content[0]
	var fileVersion int
	var artifactsNode, fleetsNode, crossNode, expectNode, targetNode, exclNode, pathsNode *yaml.Node
	var engineNodes, scenarioNodes []*yaml.Node
	l.fields(root, "matrix", map[string]func(*yaml.Node){
		"version": func(v *yaml.Node) {
			if n, err := strconv.Atoi(v.Value); err == nil {
				fileVersion = n
			}
			if fileVersion != 1 {
				l.errf(v, "version: only version 1 is known, got %s", kindName(v))
			}
		},
		"target":    func(v *yaml.Node) { targetNode = v },
		"postgres":  func(v *yaml.Node) { l.postgres(v, m) },
		"artifacts": func(v *yaml.Node) { artifactsNode = v },
		"engines": func(v *yaml.Node) {
			m.Engines, engineNodes = l.engines(v, "engines")
		},
		"schema_paths": func(v *yaml.Node) { pathsNode = v },
		"scenarios": func(v *yaml.Node) {
			m.Scenarios, scenarioNodes = l.strList(v, "scenarios")
		},
		"fleets":     func(v *yaml.Node) { fleetsNode = v },
		"cross":      func(v *yaml.Node) { crossNode = v },
		"expect":     func(v *yaml.Node) { expectNode = v },
		"timeouts":   func(v *yaml.Node) { l.timeouts(v, m) },
		"exclusions": func(v *yaml.Node) { exclNode = v },
	})
	if root.Kind != yaml.MappingNode {
		return m
	}
	if fileVersion == 0 {
		l.errf(root, "matrix: missing key \"version\" (use version: 1)")
	}
	if targetNode == nil {
		l.errf(root, "matrix: missing key \"target\" (the release whose migrator defines the newest schema)")
	} else {
		l.target(targetNode, m)
	}
	if artifactsNode == nil {
		l.errf(root, "matrix: missing key \"artifacts\"")
	} else {
		l.artifacts(artifactsNode, m)
	}
	if len(m.Engines) == 0 {
		m.Engines = []Engine{Canonical, QueueStorage}
	}
	l.checkAuthorities(m.Engines, engineNodes, m.Target, "engines")
	var pathNodes []*yaml.Node
	if pathsNode != nil {
		pathNodes = l.schemaPaths(pathsNode, m)
	}
	if len(m.SchemaPaths) == 0 {
		m.SchemaPaths = []SchemaPath{{}}
		pathNodes = []*yaml.Node{root}
	}
	if len(m.Scenarios) == 0 {
		l.errf(root, "matrix: missing key \"scenarios\" (known: %s)", strings.Join(ScenarioNames(), ", "))
	}
	for i, s := range m.Scenarios {
		l.checkScenario(scenarioNodes[i], s, "scenarios")
	}
	for i, p := range m.SchemaPaths {
		for _, e := range m.PathEngines(p) {
			if p.From == "" && e == QSColumns {
				l.errf(pathNodes[i], "schema path fresh with engine %s: a fresh install starts in ring authority ledger, and no official command goes back to columns; columns is the state of an upgraded database (give the fresh path its own engines: {path: fresh, engines: [...]})", e)
			}
		}
		if p.From == "" {
			continue
		}
		a, ok := m.Artifacts[p.From]
		if !ok {
			l.errf(pathNodes[i], "schema_paths: unknown artifact %q%s", p.From, didYouMean(p.From, m.ArtifactNames()))
		} else if a.Kind == "cli" || a.Kind == KindSuite || a.Kind == "container" {
			l.errf(pathNodes[i], "schema_paths: %q must name a python or rust artifact (it migrates and then enqueues work), not a %s", p.From, a.Kind)
		}
	}
	if fleetsNode != nil {
		l.fleets(fleetsNode, m)
	}
	if crossNode != nil {
		l.cross(crossNode, m)
	}
	if fleetsNode == nil && crossNode == nil && needsFleets(m) {
		l.errf(root, "matrix: give \"fleets\" (role bindings) or \"cross\" (role -> artifact lists)")
	}
	l.checkSuiteScenario(root, m)
	if expectNode != nil {
		l.rules(expectNode, m)
	}
	if exclNode != nil {
		l.exclusions(exclNode, m)
	}
	if m.Timeouts.Cell == 0 {
		m.Timeouts.Cell = 120 * time.Second
	}
	if m.Timeouts.Inert == 0 {
		m.Timeouts.Inert = 1500 * time.Millisecond
	}
	return m
}

// schemaPaths reads the list of schema paths: each a name ("fresh", "upgraded-from ARTIFACT")
// or a mapping {path: NAME, engines: [...], scenarios: [...]} that narrows what runs on it.
// It returns each path's node, for later messages.
func (l *loader) schemaPaths(n *yaml.Node, m *Matrix) []*yaml.Node {
	n = resolve(n)
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var nodes []*yaml.Node
	seen := map[string]bool{}
	for _, item := range items {
		item = resolve(item)
		var p SchemaPath
		if item.Kind == yaml.MappingNode {
			var pathNode *yaml.Node
			l.fields(item, "schema_paths[]", map[string]func(*yaml.Node){
				"path": func(v *yaml.Node) { pathNode = v; p = l.schemaPath(v, l.str(v, "schema_paths[].path")) },
				"engines": func(v *yaml.Node) {
					p.Engines, _ = l.engines(v, "schema_paths[].engines")
					if len(p.Engines) == 0 {
						l.errf(v, "schema_paths[].engines: empty list (omit the key to run every engine)")
					}
				},
				"scenarios": func(v *yaml.Node) {
					var sn []*yaml.Node
					p.Scenarios, sn = l.strList(v, "schema_paths[].scenarios")
					for i, s := range p.Scenarios {
						l.checkScenario(sn[i], s, "schema_paths[].scenarios")
					}
				},
			})
			if pathNode == nil {
				l.errf(item, "schema_paths[]: missing key \"path\" (fresh or \"upgraded-from ARTIFACT\")")
				continue
			}
			engineNodes := make([]*yaml.Node, len(p.Engines))
			for i := range engineNodes {
				engineNodes[i] = item
			}
			l.checkAuthorities(p.Engines, engineNodes, m.Target, "schema_paths[].engines")
		} else {
			p = l.schemaPath(item, l.str(item, "schema_paths"))
		}
		if seen[p.Name()] {
			l.errf(item, "schema_paths: %s given twice", p.Name())
			continue
		}
		seen[p.Name()] = true
		m.SchemaPaths = append(m.SchemaPaths, p)
		nodes = append(nodes, item)
	}
	return nodes
}

func (l *loader) schemaPath(n *yaml.Node, s string) SchemaPath {
	if s == "fresh" {
		return SchemaPath{}
	}
	if from, ok := strings.CutPrefix(s, "upgraded-from "); ok && strings.TrimSpace(from) != "" {
		return SchemaPath{From: strings.TrimSpace(from)}
	}
	l.errf(n, "schema_paths: %q is not \"fresh\" or \"upgraded-from ARTIFACT\"", clipValue(s))
	return SchemaPath{}
}

// engines reads a list of engine names.
func (l *loader) engines(n *yaml.Node, what string) ([]Engine, []*yaml.Node) {
	names, nodes := l.strList(n, what)
	known := make([]string, len(Engines))
	for i, e := range Engines {
		known[i] = string(e)
	}
	var out []Engine
	var outNodes []*yaml.Node
	for i, name := range names {
		if !slices.Contains(known, name) {
			l.errf(nodes[i], "%s: unknown engine %q%s (known: %s)", what, clipValue(name), didYouMean(name, known), strings.Join(known, ", "))
			continue
		}
		if slices.Contains(out, Engine(name)) {
			l.errf(nodes[i], "%s: engine %s given twice", what, name)
			continue
		}
		out = append(out, Engine(name))
		outNodes = append(outNodes, nodes[i])
	}
	return out, outNodes
}

// checkAuthorities refuses a ring authority on a target whose schema has none.
func (l *loader) checkAuthorities(engines []Engine, nodes []*yaml.Node, t Target, what string) {
	if t.Awa == (version.Version{}) || !t.Awa.Less(RingAuthoritySince) {
		return
	}
	for i, e := range engines {
		if e.Authority() != "" {
			l.errf(nodes[i], "%s: %s asks for a ring authority, but the schema of the target awa %s has none (ring authority arrived with schema v43, awa %s); use queue_storage", what, e, t.Awa, RingAuthoritySince)
		}
	}
}

func (l *loader) checkScenario(n *yaml.Node, s, what string) {
	if _, ok := LookupScenario(s); !ok {
		l.errf(n, "%s: unknown scenario %q%s (known: %s)", what, clipValue(s), didYouMean(s, ScenarioNames()), strings.Join(ScenarioNames(), ", "))
	}
}

// clipValue keeps a value quoted in a message short, however long the input.
func clipValue(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func (l *loader) target(n *yaml.Node, m *Matrix) {
	l.fields(n, "target", map[string]func(*yaml.Node){
		"awa":    func(v *yaml.Node) { m.Target.Awa, _ = l.exactVersion(v, "target.awa") },
		"source": func(v *yaml.Node) { m.Target.Source = l.str(v, "target.source") },
		"schema_version": func(v *yaml.Node) {
			n, err := strconv.Atoi(v.Value)
			if err != nil || n <= 0 {
				l.errf(v, "target.schema_version: %s is not a positive integer", kindName(v))
			}
			m.Target.SchemaVersion = n
		},
	})
	if n.Kind == yaml.MappingNode && m.Target.Awa == (version.Version{}) && !l.hasErrAt(n) {
		l.errf(n, "target: missing key \"awa\" (an exact release like 0.6.9)")
	}
}

func (l *loader) hasErrAt(n *yaml.Node) bool {
	for _, e := range l.errs {
		if e.Pos.Line >= n.Line {
			return true
		}
	}
	return false
}

func (l *loader) postgres(n *yaml.Node, m *Matrix) {
	var versionsNode, imageNode *yaml.Node
	l.fields(n, "postgres", map[string]func(*yaml.Node){
		"url": func(v *yaml.Node) { m.Postgres.URL = l.str(v, "postgres.url") },
		"versions": func(v *yaml.Node) {
			versionsNode = v
			m.Postgres.Versions = l.majors(v, "postgres.versions")
		},
		"image": func(v *yaml.Node) {
			imageNode = v
			m.Postgres.Image = l.str(v, "postgres.image")
			if m.Postgres.Image == "" && v.Kind == yaml.ScalarNode {
				l.errf(v, "postgres.image: empty; name an image like postgres:17")
			}
		},
	})
	switch {
	case m.Postgres.URL != "" && versionsNode != nil:
		l.errf(versionsNode, "postgres: url and versions exclude each other: an existing server has one major; drop versions, or drop url for one embedded server per major")
	case m.Postgres.URL != "" && imageNode != nil:
		l.errf(imageNode, "postgres: url and image exclude each other: use an existing server, or start one from an image")
	case imageNode != nil && len(m.Postgres.Versions) > 1 && !strings.Contains(m.Postgres.Image, MajorPlaceholder):
		l.errf(imageNode, "postgres.image: %q is one server for %d majors; write the major as %s (postgres:%s) to start one per version", clipValue(m.Postgres.Image), len(m.Postgres.Versions), MajorPlaceholder, MajorPlaceholder)
	case imageNode != nil && len(m.Postgres.Versions) == 0 && strings.Contains(m.Postgres.Image, MajorPlaceholder):
		l.errf(imageNode, "postgres.image: %q names %s, but postgres.versions lists no major", clipValue(m.Postgres.Image), MajorPlaceholder)
	}
}

// majors reads a list of PostgreSQL majors (postgres.versions, when.pg): integers, each one
// awacompat can run (pgbin.CheckMajor says why not: below awa's floor, or unknown).
func (l *loader) majors(n *yaml.Node, what string) []int {
	n = resolve(n)
	items := []*yaml.Node{n}
	switch n.Kind {
	case yaml.SequenceNode:
		items = n.Content
		if len(items) == 0 {
			l.errf(n, "%s: empty; list PostgreSQL majors like [14, 17], or leave the key out", what)
		}
	case yaml.ScalarNode:
	default:
		l.errf(n, "%s: expected a list of PostgreSQL majors like [14, 17], got %s", what, kindName(n))
		return nil
	}
	var out []int
	for _, item := range items {
		item = resolve(item)
		v, err := strconv.Atoi(item.Value)
		if item.Kind != yaml.ScalarNode || err != nil {
			l.errf(item, "%s: %s is not a PostgreSQL major like 17 (a major only: 17, not 17.2)", what, kindName(item))
			continue
		}
		if err := pgbin.CheckMajor(v); err != nil {
			l.errf(item, "%s: %v", what, err)
			continue
		}
		if slices.Contains(out, v) {
			l.errf(item, "%s: %d given twice", what, v)
			continue
		}
		out = append(out, v)
	}
	return out
}

// Timeout bounds: a cell needs time to start probes and judge, an inert window shorter than
// a worker's poll cycle proves nothing, and a deadline beyond an hour hides a hang.
const (
	MinCellTimeout  = 10 * time.Second
	MaxCellTimeout  = time.Hour
	MinInertTimeout = time.Second
)

func (l *loader) timeouts(n *yaml.Node, m *Matrix) {
	bounded := func(v *yaml.Node, what string, lo, hi time.Duration) time.Duration {
		d := l.duration(v, what)
		if d != 0 && (d < lo || d > hi) {
			l.errf(v, "%s: %s is outside %s..%s", what, d, lo, hi)
		}
		return d
	}
	l.fields(n, "timeouts", map[string]func(*yaml.Node){
		"cell":  func(v *yaml.Node) { m.Timeouts.Cell = bounded(v, "timeouts.cell", MinCellTimeout, MaxCellTimeout) },
		"inert": func(v *yaml.Node) { m.Timeouts.Inert = bounded(v, "timeouts.inert", MinInertTimeout, MaxCellTimeout) },
	})
	if m.Timeouts.Cell != 0 && m.Timeouts.Inert >= m.Timeouts.Cell {
		l.errf(n, "timeouts: inert (%s) must be shorter than cell (%s)", m.Timeouts.Inert, m.Timeouts.Cell)
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func (l *loader) artifacts(n *yaml.Node, m *Matrix) {
	if n.Kind != yaml.MappingNode {
		l.errf(n, "artifacts: expected a mapping of name to {kind, version}, got %s", kindName(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		if !nameRE.MatchString(name) {
			l.errf(k, "artifacts: name %q must be letters, digits, '.', '_' or '-'", name)
			continue
		}
		if _, dup := m.Artifacts[name]; dup {
			l.errf(k, "artifacts: %q given twice", name)
			continue
		}
		a := Artifact{Name: name, pos: l.pos(k)}
		what := "artifacts." + name
		hasVersion := false
		handlers := map[string]func(*yaml.Node){}
		for _, key := range suiteFields {
			handlers[key] = func(v *yaml.Node) { l.suiteField(key, v, &a, what) }
		}
		for key, f := range map[string]func(*yaml.Node){
			"kind":    func(v *yaml.Node) { a.Kind = l.str(v, what+".kind"); l.checkKind(v, a.Kind, what) },
			"version": func(v *yaml.Node) { a.Version, hasVersion = l.exactVersion(v, what+".version") },
			"source":  func(v *yaml.Node) { a.Source = l.str(v, what+".source") },
			"image":   func(v *yaml.Node) { a.Image = l.str(v, what+".image") },
			"client": func(v *yaml.Node) {
				a.Client = l.str(v, what+".client")
				if a.Client != "python" && a.Client != "cli" {
					l.errf(v, "%s.client: %q is not python (awa-pg, run by the image's python3) or cli (the awa CLI)", what, clipValue(a.Client))
				}
			},
			"via": func(v *yaml.Node) {
				a.Via = l.str(v, what+".via")
				if a.Via != "pypi" && a.Via != "cargo" {
					l.errf(v, "%s.via: %q is not pypi or cargo", what, a.Via)
				}
			},
		} {
			handlers[key] = f
		}
		l.fields(v, what, handlers)
		if v.Kind == yaml.MappingNode {
			if a.Kind == "" {
				l.errf(v, "%s: missing key \"kind\" (one of %s)", what, strings.Join(Kinds, ", "))
			}
			if !hasVersion && a.Kind != KindSuite && !l.hasErrAt(v) {
				l.errf(v, "%s: missing key \"version\"", what)
			}
			if a.Via != "" && a.Kind != "cli" && a.Kind != KindSuite {
				l.errf(v, "%s: \"via\" applies to cli artifacts only", what)
			}
			l.checkSuite(v, &a, what)
			if a.Kind == KindSuite && !hasVersion {
				a.Version = m.Target.Awa // a suite tests the release it is checked out at: the target's, unless it says
			}
			if a.Kind == "container" {
				if a.Image == "" {
					l.errf(v, "%s: missing key \"image\" (the image that holds awa, e.g. myorg/worker:1.2)", what)
				}
				if a.Client == "" {
					l.errf(v, "%s: missing key \"client\" (python: awa-pg in the image; cli: the awa CLI)", what)
				}
				if a.Source != "" || a.Via != "" {
					l.errf(v, "%s: a container artifact is its image; \"source\" and \"via\" do not apply", what)
				}
			} else if a.Image != "" || a.Client != "" {
				l.errf(v, "%s: \"image\" and \"client\" apply to kind container only", what)
			}
		}
		m.Artifacts[name] = a
	}
}

func (l *loader) checkKind(n *yaml.Node, kind, what string) {
	if !slices.Contains(Kinds, kind) {
		l.errf(n, "%s.kind: unknown kind %q%s (known: %s)", what, kind, didYouMean(kind, Kinds), strings.Join(Kinds, ", "))
	}
}

// roleArtifact checks that an artifact exists and can play the role.
func (l *loader) roleArtifact(n *yaml.Node, m *Matrix, role, name, what string) {
	if !slices.Contains(Roles, role) {
		l.errf(n, "%s: unknown role %q%s (known: %s)", what, role, didYouMean(role, Roles), strings.Join(Roles, ", "))
		return
	}
	a, ok := m.Artifacts[name]
	if !ok {
		l.errf(n, "%s: unknown artifact %q%s", what, name, didYouMean(name, m.ArtifactNames()))
		return
	}
	if role == SuiteRole || a.Kind == KindSuite {
		l.errf(n, "%s: suites are not bound in fleets or cross: each suite artifact runs on every schema path whose scenarios include suite", what)
		return
	}
	if a.CLIOnly() && !slices.Contains(cliRoles, role) {
		l.errf(n, "%s: a cli artifact cannot be a %s (use a python or rust artifact)", what, role)
	}
}

func (l *loader) fleets(n *yaml.Node, m *Matrix) {
	if n.Kind != yaml.SequenceNode {
		l.errf(n, "fleets: expected a list of {role: artifact} mappings, got %s", kindName(n))
		return
	}
	for _, item := range n.Content {
		if item.Kind != yaml.MappingNode {
			l.errf(item, "fleets: expected a mapping of role to artifact, got %s", kindName(item))
			continue
		}
		f := Fleet{}
		for _, kv := range l.pairs(item, "fleets") {
			k, v := kv[0], kv[1]
			name := l.str(v, "fleets."+k.Value)
			l.roleArtifact(v, m, k.Value, name, "fleets")
			if !slices.Contains(Roles, k.Value) {
				continue
			}
			f[k.Value] = name
		}
		m.Fleets = append(m.Fleets, f)
	}
}

// cross reads one block (a mapping of role to artifact list) or a list of blocks.
func (l *loader) cross(n *yaml.Node, m *Matrix) {
	n = resolve(n)
	if n.Kind == yaml.SequenceNode {
		for _, item := range n.Content {
			l.crossBlock(resolve(item), m)
		}
		return
	}
	l.crossBlock(n, m)
}

func (l *loader) crossBlock(n *yaml.Node, m *Matrix) {
	if n.Kind != yaml.MappingNode {
		l.errf(n, "cross: expected a mapping of role to a list of artifacts (or a list of such mappings), got %s", kindName(n))
		return
	}
	block := CrossBlock{Roles: map[string][]string{}}
	for _, kv := range l.pairs(n, "cross") {
		k, v := kv[0], kv[1]
		if k.Value == "scenarios" {
			var nodes []*yaml.Node
			block.Scenarios, nodes = l.strList(v, "cross.scenarios")
			for j, sc := range block.Scenarios {
				l.checkScenario(nodes[j], sc, "cross.scenarios")
			}
			continue
		}
		if k.Value == "schema_paths" {
			var nodes []*yaml.Node
			block.SchemaPaths, nodes = l.strList(v, "cross.schema_paths")
			for j, p := range block.SchemaPaths {
				l.checkPathName(nodes[j], m, p, "cross.schema_paths")
			}
			continue
		}
		names, nodes := l.strList(v, "cross."+k.Value)
		for j, name := range names {
			l.roleArtifact(nodes[j], m, k.Value, name, "cross")
		}
		if slices.Contains(Roles, k.Value) {
			block.Roles[k.Value] = names
		} else if len(names) == 0 {
			l.errf(k, "cross: unknown role %q%s", k.Value, didYouMean(k.Value, Roles))
		}
	}
	m.Cross = append(m.Cross, block)
}

func (l *loader) rules(n *yaml.Node, m *Matrix) {
	if n.Kind != yaml.SequenceNode {
		l.errf(n, "expect: expected a list of rules, got %s", kindName(n))
		return
	}
	for i, item := range n.Content {
		r := Rule{Index: i + 1, Pos: l.pos(item), Basis: "documented"}
		what := fmt.Sprintf("expect[%d]", i+1)
		var verdictNode *yaml.Node
		l.fields(item, what, map[string]func(*yaml.Node){
			"when": func(v *yaml.Node) { r.When = l.match(v, m, what+".when") },
			"verdict": func(v *yaml.Node) {
				verdictNode = v
				r.Verdict = Verdict(l.str(v, what+".verdict"))
			},
			"error": func(v *yaml.Node) {
				r.Error = l.str(v, what+".error")
				re, err := regexp.Compile(r.Error)
				if err != nil {
					l.errf(v, "%s.error: bad regular expression: %v", what, err)
				}
				r.errorRE = re
			},
			"because": func(v *yaml.Node) { r.Because = l.str(v, what+".because") },
			"basis": func(v *yaml.Node) {
				r.Basis = l.str(v, what+".basis")
				if r.Basis != "documented" && r.Basis != "observed" {
					l.errf(v, "%s.basis: %q is not documented or observed", what, r.Basis)
				}
			},
		})
		if item.Kind != yaml.MappingNode {
			continue
		}
		if verdictNode == nil {
			l.errf(item, "%s: missing key \"verdict\"", what)
		} else {
			names := make([]string, len(Verdicts))
			for i, v := range Verdicts {
				names[i] = string(v)
			}
			kind := "verdict"
			if len(r.When.Tests) > 0 {
				names, kind = testRuleVerdicts(), "test outcome"
			}
			if !slices.Contains(names, string(r.Verdict)) && !(kind == "verdict" && slices.Contains(testRuleVerdicts(), string(r.Verdict))) {
				l.errf(verdictNode, "%s.verdict: unknown %s %q%s (known: %s)", what, kind, r.Verdict, didYouMean(string(r.Verdict), names), strings.Join(names, ", "))
			}
		}
		l.testRule(item, &r, what)
		if strings.TrimSpace(r.Because) == "" {
			l.errf(item, "%s: missing key \"because\" (cite the awa document, or say what was observed)", what)
		}
		if r.Error != "" && r.Verdict != Refused {
			l.errf(item, "%s: \"error\" applies to verdict refused only", what)
		}
		m.Expect = append(m.Expect, r)
	}
}

func (l *loader) match(n *yaml.Node, m *Matrix, what string) Match {
	var mt Match
	if n.Kind != yaml.MappingNode {
		l.errf(n, "%s: expected a mapping, got %s", what, kindName(n))
		return mt
	}
	for _, kv := range l.pairs(n, what) {
		k, v := kv[0], kv[1]
		switch k.Value {
		case "engine":
			es, _ := l.engines(v, what+".engine")
			for _, e := range es {
				mt.Engines = append(mt.Engines, string(e))
			}
		case "scenario":
			var sn []*yaml.Node
			mt.Scenarios, sn = l.strList(v, what+".scenario")
			for i, s := range mt.Scenarios {
				l.checkScenario(sn[i], s, what+".scenario")
			}
		case "pg":
			mt.Postgres = l.majors(v, what+".pg")
			for _, pg := range mt.Postgres {
				if !slices.Contains(m.Postgres.Versions, pg) {
					l.errf(v, "%s.pg: %d is not in postgres.versions (%s)", what, pg, strings.Trim(fmt.Sprint(m.Postgres.Versions), "[]"))
					break
				}
			}
		case "schema_path":
			var pn []*yaml.Node
			mt.SchemaPath, pn = l.strList(v, what+".schema_path")
			for i, p := range mt.SchemaPath {
				l.checkPathName(pn[i], m, p, what+".schema_path")
			}
		case SuiteRole:
			l.suiteMatch(v, m, &mt, what+".suite")
		case "test":
			var tn []*yaml.Node
			mt.Tests, tn = l.strList(v, what+".test")
			for i, t := range mt.Tests {
				if strings.TrimSpace(t) == "" {
					l.errf(tn[i], "%s.test: an empty pattern matches no test", what)
				}
			}
		default:
			if !slices.Contains(Roles, k.Value) {
				keys := append([]string{"engine", "pg", "scenario", "schema_path", "test"}, Roles...)
				l.errf(k, "%s: unknown key %q%s (known: %s)", what, k.Value, didYouMean(k.Value, keys), strings.Join(keys, ", "))
				continue
			}
			if mt.Roles == nil {
				mt.Roles = map[string]ArtifactMatch{}
			}
			mt.Roles[k.Value] = l.artifactMatch(v, m, what+"."+k.Value)
		}
	}
	return mt
}

// artifactMatch reads either a version constraint ("<0.6.0") or a mapping
// {artifact, kind, version}.
func (l *loader) artifactMatch(n *yaml.Node, m *Matrix, what string) ArtifactMatch {
	var am ArtifactMatch
	if n.Kind == yaml.ScalarNode {
		am.Constraint = n.Value
	} else {
		l.fields(n, what, map[string]func(*yaml.Node){
			"artifact": func(v *yaml.Node) {
				am.Name = l.str(v, what+".artifact")
				if _, ok := m.Artifacts[am.Name]; !ok {
					l.errf(v, "%s.artifact: unknown artifact %q%s", what, am.Name, didYouMean(am.Name, m.ArtifactNames()))
				}
			},
			"kind":    func(v *yaml.Node) { am.Kind = l.str(v, what+".kind"); l.checkKind(v, am.Kind, what) },
			"version": func(v *yaml.Node) { am.Constraint = l.str(v, what+".version") },
		})
		if n.Kind == yaml.MappingNode && len(n.Content) == 0 {
			l.errf(n, "%s: an empty mapping matches every artifact; give a version constraint, a kind or an artifact (or leave the role out)", what)
		}
	}
	if n.Kind == yaml.ScalarNode && strings.TrimSpace(am.Constraint) == "" {
		l.errf(n, "%s: an empty constraint matches nothing; give one like \"<0.6.0\"", what)
	}
	if am.Constraint != "" {
		c, err := version.ParseConstraint(am.Constraint)
		if err != nil {
			l.errf(n, "%s: %v", what, err)
		} else {
			am.constraint = &c
		}
	}
	return am
}

// checkPathName validates a `when.schema_path` value: fresh, upgraded (any upgraded path), or
// a path the matrix runs, in either spelling (upgraded-from X or upgraded-from-X).
func (l *loader) checkPathName(n *yaml.Node, m *Matrix, name, what string) {
	var known []string
	for _, p := range m.SchemaPaths {
		if p.From == "" {
			known = append(known, "fresh")
			continue
		}
		if !slices.Contains(known, "upgraded") {
			known = append(known, "upgraded")
		}
		known = append(known, "upgraded-from "+p.From)
	}
	if slices.Contains(known, name) || slices.ContainsFunc(m.SchemaPaths, func(p SchemaPath) bool { return p.Name() == name }) {
		return
	}
	l.errf(n, "%s: %q is not a schema path of this matrix%s (known: %s)", what, clipValue(name), didYouMean(name, known), strings.Join(known, ", "))
}

func (l *loader) exclusions(n *yaml.Node, m *Matrix) {
	if n.Kind != yaml.SequenceNode {
		l.errf(n, "exclusions: expected a list, got %s", kindName(n))
		return
	}
	for i, item := range n.Content {
		var e Exclusion
		what := fmt.Sprintf("exclusions[%d]", i+1)
		l.fields(item, what, map[string]func(*yaml.Node){
			"scenario": func(v *yaml.Node) {
				e.Scenario = l.str(v, what+".scenario")
				l.checkScenario(v, e.Scenario, what+".scenario")
			},
			"engine": func(v *yaml.Node) {
				e.Engine = l.str(v, what+".engine")
				if !slices.Contains(BaseEngines, e.Engine) {
					l.errf(v, "%s.engine: unknown engine %q%s (known: %s)", what, clipValue(e.Engine), didYouMean(e.Engine, BaseEngines), strings.Join(BaseEngines, ", "))
				}
			},
			"because": func(v *yaml.Node) { e.Because = l.str(v, what+".because") },
		})
		if item.Kind == yaml.MappingNode && strings.TrimSpace(e.Because) == "" {
			l.errf(item, "%s: missing key \"because\": an operation runs under one engine only for a stated reason", what)
		}
		m.Exclusions = append(m.Exclusions, e)
	}
}

// didYouMean suggests the closest known name.
func didYouMean(got string, known []string) string {
	best, bestD := "", 1<<30
	for _, k := range known {
		if d := editDistance(strings.ToLower(got), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" && bestD <= max(2, len(got)/3) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// needsFleets is true when a scenario of the matrix binds roles from fleets or cross (the
// suite scenario's role is bound to each suite artifact instead).
func needsFleets(m *Matrix) bool {
	names := slices.Clone(m.Scenarios)
	for _, p := range m.SchemaPaths {
		names = append(names, p.Scenarios...)
	}
	for _, name := range names {
		if s, ok := LookupScenario(name); ok && len(s.Roles) > 0 && name != SuiteScenario {
			return true
		}
	}
	return false
}

// checkSuiteScenario holds suites and the suite scenario together: a suite that no schema
// path runs, or a suite scenario with no suite to run, is a mistake.
func (l *loader) checkSuiteScenario(root *yaml.Node, m *Matrix) {
	runs := false
	for _, p := range m.SchemaPaths {
		runs = runs || slices.Contains(m.PathScenarios(p), SuiteScenario)
	}
	var suites []string
	for _, name := range m.ArtifactNames() {
		if m.Artifacts[name].Kind == KindSuite {
			suites = append(suites, name)
		}
	}
	switch {
	case runs && len(suites) == 0:
		l.errf(root, "matrix: scenario suite runs the matrix's suite artifacts, and it has none (add one: {kind: suite, source: target, command: cargo test ...})")
	case !runs && len(suites) > 0:
		a := m.Artifacts[suites[0]]
		l.errf(&yaml.Node{Line: a.pos.Line, Column: a.pos.Column}, "artifacts.%s: a suite, but no schema path runs scenario suite (add suite to scenarios)", a.Name)
	}
}
