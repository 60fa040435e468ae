package probes

// The protocol's words (PROTOCOL.md) as the Go side spells them. protocol_test.go checks that
// both probe programs use every one of them.

// JobKind is the job kind awacompat's probes enqueue and handle (every Spec's Kind).
const JobKind = "awacompat_probe"

// Op is a step's operation.
type Op string

const (
	OpEnqueue           Op = "enqueue"
	OpWork              Op = "work"
	OpCancel            Op = "cancel"
	OpCancelByUniqueKey Op = "cancel_by_unique_key"
	OpGetJob            Op = "get_job"
	OpListJobs          Op = "list_jobs"
	OpQueueStats        Op = "queue_stats"
	OpMigrate           Op = "migrate"
	OpSleep             Op = "sleep"
)

// Ops lists every op.
func Ops() []Op {
	return []Op{OpEnqueue, OpWork, OpCancel, OpCancelByUniqueKey, OpGetJob, OpListJobs, OpQueueStats, OpMigrate, OpSleep}
}

// EventName is what an event line's "event" says.
type EventName string

const (
	EventStart     EventName = "start"
	EventDone      EventName = "done"
	EventError     EventName = "error"
	EventFatal     EventName = "fatal"
	EventEnqueued  EventName = "enqueued"
	EventReady     EventName = "ready"
	EventHandled   EventName = "handled"
	EventStopped   EventName = "stopped"
	EventNote      EventName = "note"
	EventCancelled EventName = "cancelled"
	EventRead      EventName = "read"
	EventMigrated  EventName = "migrated"
	// EventHealth is a work step's periodic report of its client's own health check.
	EventHealth EventName = "health"
	// EventInterrupted says a handler that takes handle_ms was stopped before it returned (its
	// client cancelled it, for example at a graceful shutdown): the job did not complete there.
	EventInterrupted EventName = "interrupted"
	// EventGarbage is no probe's word: the driver's name for a stdout line that is not an event.
	EventGarbage EventName = "garbage"
)

// EventNames lists every event a probe emits (not EventGarbage).
func EventNames() []EventName {
	return []EventName{EventStart, EventDone, EventError, EventFatal, EventEnqueued, EventReady, EventHandled,
		EventStopped, EventNote, EventCancelled, EventRead, EventMigrated, EventHealth, EventInterrupted}
}

// Behavior is what a work step's handler does.
type Behavior string

const (
	BehaviorComplete Behavior = "complete"
	// BehaviorFailOnce asks for a retry on attempt 1 and completes attempt 2.
	BehaviorFailOnce Behavior = "fail_once"
	// BehaviorHold keeps the handler running until the step ends.
	BehaviorHold Behavior = "hold"
)

// Behaviors lists every behavior.
func Behaviors() []Behavior { return []Behavior{BehaviorComplete, BehaviorFailOnce, BehaviorHold} }

// HandlerResult is what a handled event says the handler is about to return.
type HandlerResult string

const (
	ResultCompleted HandlerResult = "completed"
	ResultRetry     HandlerResult = "retry"
	ResultHeld      HandlerResult = "held"
)

// HandlerResults lists every handler result.
func HandlerResults() []HandlerResult {
	return []HandlerResult{ResultCompleted, ResultRetry, ResultHeld}
}

// StorageRole is a work step's transition role (awa 0.6 and later).
type StorageRole string

const (
	StorageRoleAuto               StorageRole = "auto"
	StorageRoleCanonicalDrain     StorageRole = "canonical_drain"
	StorageRoleQueueStorageTarget StorageRole = "queue_storage_target"
)

// StorageRoles lists every storage role.
func StorageRoles() []StorageRole {
	return []StorageRole{StorageRoleAuto, StorageRoleCanonicalDrain, StorageRoleQueueStorageTarget}
}
