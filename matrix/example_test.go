package matrix_test

import (
	"fmt"
	"os"

	"github.com/awacompat/awacompat/matrix"
)

// Load a matrix, plan it, and print the plan as numbered steps.
func Example() {
	m, err := matrix.Parse("example.yaml", []byte(`
version: 1
target: {awa: "0.6.9"}
artifacts:
  old: {kind: python, version: "0.5.7"}
  new: {kind: python, version: "0.6.9"}
scenarios: [lifecycle]
fleets:
  - {producer: old, worker: new}
expect:
  - when: {worker: "<0.6.0", engine: queue_storage}
    verdict: inert
    because: "0.5.x workers claim only from canonical tables"
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := matrix.NewPlan(m, matrix.Options{Only: []string{"engine=queue_storage"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	p.Print(os.Stdout)
	// Output:
	// target: awa 0.6.9
	// selected 1 of 2 cells
	// artifacts:
	//   new: python 0.6.9
	//   old: python 0.5.7
	// steps:
	//   1. template fresh.queue_storage: migrate with awa 0.6.9; put it under queue_storage (awa.storage_auto_finalize_if_fresh); verify queue_storage
	//   2. cell queue_storage.fresh.lifecycle.producer=old.worker=new
	//      roles: producer=python 0.5.7, worker=python 0.6.9
	//      expect: pass (default)
}

// A typo in matrix.yaml is reported with file:line:column and a suggestion.
func ExampleParse_error() {
	_, err := matrix.Parse("matrix.yaml", []byte("version: 1\ntarget: {awa: \"0.6.9\"}\nartifacts: {}\nscenarios: [lifecycle]\nengines: [canonical, queue-storage]\nfleets: []\n"))
	fmt.Println(err)
	// Output:
	// matrix.yaml:5:22: engines: unknown engine "queue-storage" (did you mean "queue_storage"?) (known: canonical, queue_storage, queue_storage:columns, queue_storage:ledger)
}
