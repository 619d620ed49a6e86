package doctor

// Status is the outcome of one check.
type Status string

// Check statuses.
const (
	StatusPass Status = "PASS"
	StatusWarn Status = "WARN" // works, but something optional is missing
	StatusFail Status = "FAIL" // banger cannot work until it is fixed
)

// Check is one row of a report. Fix is a command or action that resolves a
// FAIL or WARN.
type Check struct {
	Name   string
	Status Status
	Detail string
	Fix    string
}

// Report is the result of Run: every check, in a fixed order.
type Report struct {
	Checks []Check
}
