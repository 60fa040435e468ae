package matrix

// Scenario describes a named script the runner knows how to drive: which roles it needs and
// which contract operations it exercises (the engine-coverage check works on operations).
type Scenario struct {
	Name string
	// Roles the scenario binds; a fleet must bind all of them for the scenario to apply.
	Roles []string
	// Ops are the caller-contract operations the scenario exercises.
	Ops []string
	// Doc is one line for `awacompat plan` and the README.
	Doc string
	// UpgradedOnly scenarios apply to upgraded-from schema paths only (they check the work the
	// old release left before the upgrade).
	UpgradedOnly bool
}

// Catalog lists every scenario the runner implements, in a stable order.
var Catalog = []Scenario{
	{
		Name:         "upgrade_backlog",
		Roles:        []string{"worker"},
		Ops:          []string{"claim", "complete"},
		Doc:          "the jobs the old release enqueued before the upgrade are still there with their args, and the worker completes them (under queue_storage the staged transition already drained them)",
		UpgradedOnly: true,
	},
	{
		Name:  "lifecycle",
		Roles: []string{"producer", "worker"},
		Ops:   []string{"enqueue", "claim", "complete"},
		Doc:   "producer enqueues jobs with distinctive args (some before, some after the worker starts); the worker claims and completes them",
	},
}

// LookupScenario finds a scenario by name.
func LookupScenario(name string) (Scenario, bool) {
	for _, s := range Catalog {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// ScenarioNames lists the catalog's names.
func ScenarioNames() []string {
	names := make([]string, len(Catalog))
	for i, s := range Catalog {
		names[i] = s.Name
	}
	return names
}
