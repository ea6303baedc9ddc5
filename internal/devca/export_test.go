package devca

// SetWrittenHook has hook called after each file Ensure writes; restore puts back what was
// there before.
func SetWrittenHook(hook func(path string)) (restore func()) {
	old := testHookWritten
	testHookWritten = hook
	return func() { testHookWritten = old }
}
