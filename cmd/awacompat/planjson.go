package main

import (
	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/internal/runner"
	"github.com/awacompat/awacompat/matrix"
)

// planJSON is what `awacompat plan --format json` prints: the plan in results.json's key
// style, so a field the plan and results.json both have is spelled and valued the same in
// both (a cell's id, engine, schema_path, scenario, roles, expected, ...; see
// docs/results-schema.md).
type planJSON struct {
	Target planTarget `json:"target"`
	// Shard is the --shard selection; omitted when unsharded.
	Shard string `json:"shard,omitempty"`
	// MatrixCells counts the matrix's cells before --only, --skip and --shard.
	MatrixCells int            `json:"matrix_cells"`
	Artifacts   []planArtifact `json:"artifacts"`
	Templates   []planTemplate `json:"templates"`
	Cells       []planCell     `json:"cells"`
}

type planTarget struct {
	Awa    string `json:"awa"`
	Source string `json:"source,omitempty"`
	// ExpectedSchemaVersion is matrix.yaml's target.schema_version (omitted when not asserted).
	ExpectedSchemaVersion int `json:"expected_schema_version,omitempty"`
}

type planArtifact struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Version string `json:"version"`
	Source  string `json:"source,omitempty"`
	Via     string `json:"via,omitempty"`
}

type planTemplate struct {
	Name       string `json:"name"`
	SchemaPath string `json:"schema_path"`
	Engine     string `json:"engine"`
	// Steps are the template's build steps in results.json's TemplateStep key style.
	Steps []planStep `json:"steps"`
}

type planStep struct {
	Op string `json:"op"`
	By string `json:"by"`
}

// planCell holds the fields of a results.json cell that are known before it runs.
type planCell struct {
	ID            string                  `json:"id"`
	Engine        string                  `json:"engine"`
	SchemaPath    string                  `json:"schema_path"`
	Scenario      string                  `json:"scenario"`
	Roles         map[string]results.Role `json:"roles"`
	Expected      string                  `json:"expected"`
	ExpectedError string                  `json:"expected_error,omitempty"`
	Rule          int                     `json:"rule"`
	Because       string                  `json:"because"`
	Basis         string                  `json:"basis"`
}

func newPlanJSON(p *matrix.Plan) planJSON {
	out := planJSON{
		Target:      planTarget{Awa: p.Target.Awa.String(), Source: p.Target.Source, ExpectedSchemaVersion: p.Target.SchemaVersion},
		Shard:       p.Shard,
		MatrixCells: p.Total,
		Artifacts:   []planArtifact{},
		Templates:   []planTemplate{},
		Cells:       []planCell{},
	}
	for _, a := range p.Artifacts {
		out.Artifacts = append(out.Artifacts, planArtifact{Name: a.Name, Kind: a.Kind, Version: a.Version.String(), Source: a.Source, Via: a.Via})
	}
	for _, t := range p.Templates {
		pt := planTemplate{Name: t.Name(), SchemaPath: t.SchemaPath.Name(), Engine: string(t.Engine), Steps: []planStep{}}
		for _, s := range t.Steps {
			pt.Steps = append(pt.Steps, planStep{Op: string(s.Op), By: s.By})
		}
		out.Templates = append(out.Templates, pt)
	}
	for _, c := range p.Cells {
		// The runner's own record of the cell, so the two cannot drift apart.
		r := runner.CellRecord(c)
		out.Cells = append(out.Cells, planCell{ID: r.ID, Engine: r.Engine, SchemaPath: r.SchemaPath, Scenario: r.Scenario,
			Roles: r.Roles, Expected: r.Expected, ExpectedError: r.ExpectedError, Rule: r.Rule, Because: r.Because, Basis: r.Basis})
	}
	return out
}
