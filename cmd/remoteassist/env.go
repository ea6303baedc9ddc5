package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

// envOr returns the environment variable's value, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// envDefaults reads flag defaults from environment variables that must parse as a number, a
// duration or a boolean. A variable that does not parse is remembered, not ignored: check
// refuses it unless the command line sets the flag, which wins over the environment.
type envDefaults struct {
	bad []badEnv // in registration order
}

// badEnv is an environment variable whose value does not parse.
type badEnv struct {
	flag, env, value, want string
}

// int returns env as an int, or def when it is unset or empty.
func (e *envDefaults) int(flagName, env string, def int) int {
	return envValue(e, flagName, env, def, strconv.Atoi, "an integer")
}

// duration returns env as a duration, or def when it is unset or empty.
func (e *envDefaults) duration(flagName, env string, def time.Duration) time.Duration {
	return envValue(e, flagName, env, def, time.ParseDuration, `a duration such as "30s"`)
}

// bool returns env as a boolean, or def when it is unset or empty.
func (e *envDefaults) bool(flagName, env string, def bool) bool {
	return envValue(e, flagName, env, def, strconv.ParseBool, "true or false")
}

// envValue returns env parsed, or def when it is unset, empty or does not parse; a value that
// does not parse is remembered in e, described as want.
func envValue[T any](e *envDefaults, flagName, env string, def T, parse func(string) (T, error), want string) T {
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	parsed, err := parse(v)
	if err != nil {
		e.bad = append(e.bad, badEnv{flagName, env, v, want})
		return def
	}
	return parsed
}

// check returns a usage error naming the first malformed variable whose flag the parsed command
// line does not set.
func (e *envDefaults) check(fs *flag.FlagSet) error {
	for _, b := range e.bad {
		if !isSet(fs, b.flag) {
			return usageError{fmt.Errorf("%s %q: want %s (or pass --%s)", b.env, b.value, b.want, b.flag)}
		}
	}
	return nil
}

// isSet reports whether the parsed command line sets the flag.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// origin names where a flag's value came from, for an error message: the environment variable
// when the command line does not set the flag and the variable does, else the flag.
func origin(fs *flag.FlagSet, flagName, env string) string {
	if !isSet(fs, flagName) && os.Getenv(env) != "" {
		return env
	}
	return "--" + flagName
}
