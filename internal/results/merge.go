package results

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Merge joins the results of shard runs of one matrix (`awacompat run --shard i/n`) into one
// record, as if the matrix had run unsharded:
//
//   - cells are concatenated and sorted by ID; a cell ID present twice is an error;
//   - the target release and the schema version it reached must agree (a shard that never
//     migrated, schema_version 0, agrees with any);
//   - Shards lists every merged shard label in shard order ([""] when every part ran
//     unsharded, e.g. runs split with --only); StartedAt is the earliest start, FinishedAt the
//     latest finish, Interrupted is true when any shard was interrupted;
//   - artifacts and templates are joined by name; when two shards disagree about one, the record
//     carrying an error wins, so a failure is never hidden by a shard that succeeded;
//   - run errors are joined, each prefixed with its shard; when the labels say "i/n" and some
//     of the n shards are absent, that is a run error too, since their cells would otherwise be
//     silently missing rather than "not run";
//   - the summary is recomputed.
//
// The parts are not modified.
func Merge(parts ...*Results) (*Results, error) {
	if len(parts) == 0 {
		return nil, errors.New("merge: no results")
	}
	var labels []string
	for _, p := range parts {
		labels = append(labels, p.Shards...)
	}
	missing, err := missingShards(labels)
	if err != nil {
		return nil, err
	}
	out := &Results{Schema: SchemaVersion, Shards: []string{}}
	owner := map[string]string{} // cell ID -> shard label, for the duplicate message
	var errs []string
	for i, p := range parts {
		label := shardLabel(p, i)
		if p.Schema != SchemaVersion {
			return nil, fmt.Errorf("merge: shard %s has schema %d, want %d", label, p.Schema, SchemaVersion)
		}
		if i == 0 {
			out.Tool, out.Matrix = p.Tool, p.Matrix
			out.StartedAt, out.FinishedAt = p.StartedAt, p.FinishedAt
			out.Target, out.Postgres = p.Target, p.Postgres
		} else {
			if err := mergeTarget(&out.Target, p.Target, label); err != nil {
				return nil, err
			}
			if p.StartedAt.Before(out.StartedAt) {
				out.StartedAt = p.StartedAt
			}
			if p.FinishedAt.After(out.FinishedAt) {
				out.FinishedAt = p.FinishedAt
			}
			if out.Postgres.Version == "" {
				out.Postgres = p.Postgres
			}
		}
		out.Interrupted = out.Interrupted || p.Interrupted
		out.ServerCPUMS += p.ServerCPUMS // CPU adds up across shards; their wall times (Phases) do not
		for _, s := range p.Shards {
			if s != "" {
				out.Shards = append(out.Shards, s)
			}
		}
		if p.Error != "" {
			errs = append(errs, "shard "+label+": "+p.Error)
		}
		out.Artifacts = mergeByName(out.Artifacts, p.Artifacts, func(a Artifact) (string, bool) { return a.Name, a.Error != "" })
		out.Templates = mergeByName(out.Templates, p.Templates, func(t Template) (string, bool) { return t.Name, t.Error != "" })
		for _, c := range p.Cells {
			if prev, dup := owner[c.ID]; dup {
				return nil, fmt.Errorf("merge: cell %s is in shard %s and in shard %s", c.ID, prev, label)
			}
			owner[c.ID] = label
			out.Cells = append(out.Cells, c)
		}
	}
	if len(missing) > 0 {
		errs = append(errs, "shards missing from the merge: "+strings.Join(missing, ", "))
	}
	if len(out.Shards) == 0 {
		out.Shards = []string{""} // unsharded parts (e.g. runs with different --only)
	}
	slices.SortFunc(out.Shards, compareShards)
	out.Error = strings.Join(errs, "; ")
	slices.SortFunc(out.Artifacts, func(a, b Artifact) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(out.Templates, func(a, b Template) int { return cmp.Compare(a.Name, b.Name) })
	out.SortCells()
	out.Summarize()
	return out, nil
}

// compareShards orders "i/n" labels by i.
func compareShards(a, b string) int {
	ai, _, _ := strings.Cut(a, "/")
	bi, _, _ := strings.Cut(b, "/")
	x, errA := strconv.Atoi(ai)
	y, errB := strconv.Atoi(bi)
	if errA != nil || errB != nil || x == y {
		return cmp.Compare(a, b)
	}
	return cmp.Compare(x, y)
}

// shardLabel names a part in messages: its shard labels, or its position.
func shardLabel(p *Results, i int) string {
	var labels []string
	for _, s := range p.Shards {
		if s != "" {
			labels = append(labels, s)
		}
	}
	if len(labels) == 0 {
		return fmt.Sprintf("#%d (unsharded)", i+1)
	}
	return strings.Join(labels, "+")
}

func mergeTarget(t *Target, o Target, label string) error {
	if t.Awa != o.Awa {
		return fmt.Errorf("merge: shard %s ran target awa %s, the others awa %s", label, o.Awa, t.Awa)
	}
	switch {
	case o.SchemaVersion == 0:
	case t.SchemaVersion == 0:
		t.SchemaVersion = o.SchemaVersion
	case t.SchemaVersion != o.SchemaVersion:
		return fmt.Errorf("merge: shard %s reached schema version %d, the others %d", label, o.SchemaVersion, t.SchemaVersion)
	}
	if t.ExpectedSchemaVersion != o.ExpectedSchemaVersion {
		return fmt.Errorf("merge: shard %s expects schema version %d, the others %d", label, o.ExpectedSchemaVersion, t.ExpectedSchemaVersion)
	}
	if t.Origin == "" {
		t.Origin, t.Checksum = o.Origin, o.Checksum
	}
	return nil
}

// mergeByName appends the records of add not yet in have; a record with an error replaces an
// error-free one of the same name.
func mergeByName[T any](have, add []T, key func(T) (name string, failed bool)) []T {
	for _, a := range add {
		name, failed := key(a)
		i := slices.IndexFunc(have, func(h T) bool { n, _ := key(h); return n == name })
		switch {
		case i < 0:
			have = append(have, a)
		case failed:
			if _, hf := key(have[i]); !hf {
				have[i] = a
			}
		}
	}
	return have
}

// missingShards checks that the labels are "i/n" shards of one n and lists the absent ones.
// Labels that are empty (an unsharded run) are ignored.
func missingShards(labels []string) ([]string, error) {
	n := 0
	seen := map[int]bool{}
	for _, l := range labels {
		if l == "" {
			continue
		}
		a, b, ok := strings.Cut(l, "/")
		i, err1 := strconv.Atoi(a)
		ln, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil || i < 1 || i > ln {
			return nil, fmt.Errorf("merge: shard label %q is not i/n", l)
		}
		if n != 0 && ln != n {
			return nil, fmt.Errorf("merge: shards of different partitions (%d and %d parts)", n, ln)
		}
		n = ln
		if seen[i] {
			return nil, fmt.Errorf("merge: shard %s is given twice", l)
		}
		seen[i] = true
	}
	var missing []string
	for i := 1; i <= n; i++ {
		if !seen[i] {
			missing = append(missing, fmt.Sprintf("%d/%d", i, n))
		}
	}
	return missing, nil
}

// MergeDirs reads results.json from each shard folder, merges them (see Merge), and writes the
// merged results.json to out together with a copy of every cell's log folder, so the Logs paths of the merged record resolve
// inside out. Each shard's templates.log is kept as templates.<i>-of-<n>.log. out must not be
// one of the shard folders.
func MergeDirs(out string, dirs []string) (*Results, error) {
	parts := make([]*Results, len(dirs))
	for i, d := range dirs {
		if same, err := sameDir(out, d); err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		} else if same {
			return nil, fmt.Errorf("merge: output folder %s is also a shard folder", out)
		}
		r, err := Read(d)
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		parts[i] = r
	}
	merged, err := Merge(parts...)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	for i, p := range parts {
		src := dirOf(dirs[i])
		for _, c := range p.Cells {
			if c.Logs == "" {
				continue
			}
			if !filepath.IsLocal(c.Logs) {
				return nil, fmt.Errorf("merge: cell %s: logs path %q leaves the results folder", c.ID, c.Logs)
			}
			from := filepath.Join(src, c.Logs)
			if _, err := os.Stat(from); errors.Is(err, os.ErrNotExist) {
				continue // a cell that never ran has no folder
			}
			if err := copyTree(from, filepath.Join(out, c.Logs)); err != nil {
				return nil, fmt.Errorf("merge: logs of cell %s: %w", c.ID, err)
			}
		}
		tl := filepath.Join(src, "templates.log")
		if _, err := os.Stat(tl); err == nil {
			name := fmt.Sprintf("templates.%d.log", i+1)
			if len(p.Shards) == 1 && p.Shards[0] != "" {
				name = "templates." + strings.ReplaceAll(p.Shards[0], "/", "-of-") + ".log"
			}
			if err := copyFile(tl, filepath.Join(out, name)); err != nil {
				return nil, fmt.Errorf("merge: %w", err)
			}
		}
	}
	if err := Write(out, merged); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	return merged, nil
}

// dirOf is the folder of a results path given as a folder or as the results.json file.
func dirOf(p string) string {
	if st, err := os.Stat(p); err == nil && !st.IsDir() {
		return filepath.Dir(p)
	}
	return p
}

func sameDir(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	sb, err := os.Stat(dirOf(b))
	if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}

// copyTree links or copies the regular files under from into to, replacing files of the same
// name.
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case d.Type().IsRegular():
			return copyFile(path, dst)
		}
		return nil // symlinks and devices are not logs
	})
}

// copyFile copies src to dst, replacing dst. Copies, not links: a shard folder reused by a later
// run must not change the merged logs.
func copyFile(src, dst string) error {
	if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	w, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, in); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}
