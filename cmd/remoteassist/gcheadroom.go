package main

// gcHeadroom is the size of the pointer-free reservation serve makes at start-up so that the
// garbage collector's heap goal sits well above serve's small live heap.
//
// Why: serve's live heap is about 1.5 MB (the compiled contract, the docs' compressed copies,
// the log buffer, jsonschema's tables). Go's goal is twice the live heap but at least 4 MB, so
// with that little headroom serve collected every ~2.5 MB of allocation, about 1.5 times as
// often as a bare net/http server of the same routes, and each cycle marked the whole live heap
// again. The reservation adds a fixed amount to the goal (2×(live+8 MiB)), unlike GOGC, which
// multiplies it: cycles become about four times rarer while a growing live heap still gets the
// headroom GOGC gives it. The reservation holds no pointers, so the collector never scans it,
// and it is never written, so its pages are never made resident: RSS grows only by what
// requests allocate between cycles (bench/RESULTS.md gives the measured figures).
const gcHeadroom = 8 << 20

// reserveGCHeadroom makes the reservation unless the operator tuned the collector with GOGC or
// GOMEMLIMIT, whose settings then apply exactly as Go documents them. The caller keeps the
// result alive (runtime.KeepAlive) for as long as it serves.
func reserveGCHeadroom(getenv func(string) string) []byte {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return nil
	}
	return make([]byte, gcHeadroom)
}
