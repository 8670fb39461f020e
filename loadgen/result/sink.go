package result

// A Sink receives results. The attack engine (loadgen.Attack) calls Record
// from one goroutine at a time; a Sink must not keep r after Record returns.
// An error aborts the attack.
type Sink interface {
	Record(r *Result) error
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(*Result) error

// Record calls f(r).
func (f SinkFunc) Record(r *Result) error { return f(r) }

// Tee is a Sink that records to every non-nil sink in order.
func Tee(sinks ...Sink) Sink {
	var keep []Sink
	for _, s := range sinks {
		if s != nil {
			keep = append(keep, s)
		}
	}
	return SinkFunc(func(r *Result) error {
		for _, s := range keep {
			if err := s.Record(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// Compile-time checks.
var (
	_ Sink = (*Writer)(nil)
	_ Sink = (*Aggregator)(nil)
	_ Sink = SinkFunc(nil)
)
