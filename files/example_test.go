package files_test

import (
	"errors"
	"fmt"

	"github.com/filecache/filecache/files"
)

func ExampleNewFile_Validate() {
	nf := files.NewFile{Name: "../etc/passwd", Size: 10}
	err := nf.Validate()

	var ve *files.ValidationError
	if errors.As(err, &ve) {
		fmt.Println(ve.Field, "-", ve.Message)
	}
	fmt.Println(errors.Is(err, files.ErrInvalid))
	// Output:
	// name - must not contain a path separator
	// true
}

func ExampleSearchQuery_Normalize() {
	q := files.SearchQuery{Q: "report"}.Normalize()
	fmt.Println(q.Limit, q.Validate())
	// Output:
	// 50 <nil>
}
