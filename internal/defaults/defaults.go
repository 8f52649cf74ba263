// Package defaults fills in the settings of an Options struct whose zero
// value means "default", for the two rules the module's packages share
// besides plain zero-means-default (which cmp.Or covers):
//
//	defaults.Positive(&o.Timeout, DefaultTimeout) // zero or negative: the default
//	defaults.OrOff(&o.Retries, DefaultRetries)    // zero: the default; negative: off (0)
//
// The functions only touch the setting they are given.
package defaults

// Number is the type of a numeric setting (time.Duration among them).
type Number interface {
	~int | ~int64 | ~uint32 | ~float64
}

// Positive sets *v to def unless *v is positive: for a setting whose zero
// and negative values both mean the default.
func Positive[T Number](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// OrOff sets *v to def if it is zero, and to 0 (off) if it is negative: for
// a setting that a negative value turns off.
func OrOff[T Number](v *T, def T) {
	switch {
	case *v == 0:
		*v = def
	case *v < 0:
		*v = 0
	}
}
