package server

import "time"

// SetDrainTimeout sets how long s waits for the rest of a refused request's body, for tests of
// that bound.
func SetDrainTimeout(s *Server, d time.Duration) { s.drainTimeout = d }
