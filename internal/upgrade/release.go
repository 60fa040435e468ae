package upgrade

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/internal/version"
)

// artifacts lists the artifacts the run bound to a role, by name.
func artifacts(r *results.Results) map[string]Artifact {
	out := map[string]Artifact{}
	for _, c := range r.Cells {
		for _, a := range c.Roles {
			out[a.Artifact] = Artifact{Name: a.Artifact, Kind: a.Kind, Version: a.Version}
		}
	}
	return out
}

// resolve reads one side of the question. An artifact name of the run ("py-0.5.7") means that
// artifact alone; a version in either spelling ("0.6.0-rc.4", "0.6.0rc4") means every
// artifact of that version (its python, rust and cli clients), which is what a fleet of that
// release runs.
func resolve(arts map[string]Artifact, asked string) (Release, error) {
	if a, ok := arts[asked]; ok {
		return Release{Asked: asked, Version: version.Canonical(a.Version), Artifacts: []Artifact{a}}, nil
	}
	v, err := version.Parse(asked)
	if err != nil {
		return Release{}, fmt.Errorf("%q is neither an artifact of this run nor a release: %v (%s)", asked, err, known(arts))
	}
	rel := Release{Asked: asked, Version: v.String()}
	for _, a := range arts {
		if version.Equal(a.Version, v.String()) {
			rel.Artifacts = append(rel.Artifacts, a)
		}
	}
	if len(rel.Artifacts) == 0 {
		return Release{}, fmt.Errorf("no client of awa %s ran in this run (%s)", v, known(arts))
	}
	slices.SortFunc(rel.Artifacts, compareArtifacts)
	return rel, nil
}

// known names what the run has, for an error message.
func known(arts map[string]Artifact) string {
	var names, versions []string
	for _, a := range arts {
		names = append(names, a.Name)
		if !slices.Contains(versions, a.Version) {
			versions = append(versions, a.Version)
		}
	}
	slices.Sort(names)
	slices.SortFunc(versions, func(a, b string) int {
		va, errA := version.Parse(a)
		vb, errB := version.Parse(b)
		if errA != nil || errB != nil {
			return cmp.Compare(a, b)
		}
		return version.Compare(va, vb)
	})
	return "releases: " + strings.Join(versions, ", ") + "; artifacts: " + strings.Join(names, ", ")
}

var kindOrder = []string{"python", "rust", "cli"}

func compareArtifacts(a, b Artifact) int {
	return cmp.Or(compareKnown(kindOrder, a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
}

// compareKnown orders values of a known list first, in its order, then the rest by name.
func compareKnown(known []string, a, b string) int {
	ia, ib := slices.Index(known, a), slices.Index(known, b)
	switch {
	case ia >= 0 && ib >= 0:
		return cmp.Compare(ia, ib)
	case ia >= 0:
		return -1
	case ib >= 0:
		return 1
	}
	return cmp.Compare(a, b)
}

func (rel Release) has(name string) bool {
	return slices.ContainsFunc(rel.Artifacts, func(a Artifact) bool { return a.Name == name })
}
