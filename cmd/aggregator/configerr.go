package main

// Errors of the YAML file (-config), with the file, the line and the
// field's key path: yaml.v3's errors, which name Go types, rewritten; and
// our own, which name the key, located in the file's node tree.

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yamlFile is the -config file, for locating keys in error messages.
type yamlFile struct {
	name string
	root *yaml.Node // nil when the file does not parse
	// entries are every map entry and list element, in document order.
	entries []yamlEntry
}

// yamlEntry is one map entry or list element: its key path
// (sla.policies[0].name), the line of its key (or of the element) and its
// value.
type yamlEntry struct {
	path  string
	key   *yaml.Node // nil for a list element
	value *yaml.Node
}

func (e yamlEntry) line() int {
	if e.key != nil {
		return e.key.Line
	}
	return e.value.Line
}

func newYAMLFile(name string, data []byte) *yamlFile {
	f := &yamlFile{name: name}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) == nil && len(doc.Content) > 0 {
		f.root = doc.Content[0]
		f.walk("", f.root)
	}
	return f
}

func (f *yamlFile) walk(path string, n *yaml.Node) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			f.entries = append(f.entries, yamlEntry{path: p, key: k, value: v})
			f.walk(p, v)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			f.entries = append(f.entries, yamlEntry{path: p, value: v})
			f.walk(p, v)
		}
	case yaml.AliasNode:
		if n.Alias != nil {
			f.walk(path, n.Alias)
		}
	}
}

// field is the key path of an entry for messages: a list element is
// named by its list.
func (e yamlEntry) field() string {
	if e.key == nil {
		if i := strings.LastIndexByte(e.path, '['); i >= 0 {
			return e.path[:i]
		}
	}
	return e.path
}

var (
	yamlLine       = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	yamlCannot     = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.+)$")
	yamlNotFound   = regexp.MustCompile(`^field (.+) not found in type .+$`)
	fieldFirst     = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*(?:\.[^\s:.\[\]]+|\[\d+\])*): (.*)$`)
	quotedAtStart  = regexp.MustCompile(`^("(?:[^"\\]|\\.)*")`)
	pathSegment    = regexp.MustCompile(`[^.\[\]]+|\[\d+\]`)
	unmarshalTitle = "yaml: unmarshal errors:"
)

// wrap rewrites an error of reading the file into applyYAML: each of
// yaml.v3's messages, and ours, becomes "<file>: line N: <key>: ...".
func (f *yamlFile) wrap(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var errs []error
		for _, m := range te.Errors {
			errs = append(errs, errors.New(f.rewrite(m)))
		}
		return errors.Join(errs...)
	}
	msg := err.Error()
	if strings.HasPrefix(msg, unmarshalTitle) {
		return errors.New(f.name + ": " + msg)
	}
	return errors.New(f.rewrite(msg))
}

// wrapValidation gives every error of Config.Validate that names a key
// of the file (not a -flag) the file name and, when the key is in the
// file, its line.
func (f *yamlFile) wrapValidation(err error) error {
	if f == nil || err == nil {
		return err
	}
	var errs []error
	for _, e := range flatten(err) {
		msg := e.Error()
		if strings.HasPrefix(msg, "-") {
			errs = append(errs, e)
			continue
		}
		errs = append(errs, errors.New(f.rewrite(msg)))
	}
	return errors.Join(errs...)
}

// flatten lists the errors errors.Join joined, recursively.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok { //nolint:errorlint // the joined errors themselves
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// rewrite turns one message into "<file>: line N: <key>: ...".
func (f *yamlFile) rewrite(msg string) string {
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		rest := m[2]
		if c := yamlCannot.FindStringSubmatch(rest); c != nil {
			e, ok := f.at(line, func(e yamlEntry) bool { return matches(e.value, c[1], c[2]) })
			got := describeTag(c[1], c[2])
			if ok {
				got = describeNode(e.value)
			}
			want := describeGoType(c[3])
			if !ok || e.path == "" {
				return fmt.Sprintf("%s: line %d: want %s, got %s", f.name, line, want, got)
			}
			return fmt.Sprintf("%s: line %d: %s: want %s, got %s", f.name, line, e.field(), want, got)
		}
		if c := yamlNotFound.FindStringSubmatch(rest); c != nil {
			e, ok := f.at(line, func(e yamlEntry) bool { return e.key != nil && e.key.Value == c[1] })
			if ok && strings.Contains(e.path, ".") {
				return fmt.Sprintf("%s: line %d: field %s not found in %s", f.name, line, c[1], e.path[:strings.LastIndexByte(e.path, '.')])
			}
			return fmt.Sprintf("%s: line %d: field %s not found", f.name, line, c[1])
		}
		// A custom unmarshaler's message: the entry whose value is on
		// the line.
		if e, ok := f.at(line, func(e yamlEntry) bool { return e.value.Line == line && e.value.Kind != yaml.MappingNode }); ok && e.path != "" {
			return fmt.Sprintf("%s: line %d: %s: %s", f.name, line, e.field(), rest)
		}
		return fmt.Sprintf("%s: line %d: %s", f.name, line, rest)
	}
	if m := fieldFirst.FindStringSubmatch(msg); m != nil {
		if line := f.lineOf(m[1], m[2]); line > 0 {
			return fmt.Sprintf("%s: line %d: %s", f.name, line, msg)
		}
	}
	return f.name + ": " + msg
}

// at finds the entry on line that ok accepts, the innermost when several
// do (a flow map on one line).
func (f *yamlFile) at(line int, ok func(yamlEntry) bool) (yamlEntry, bool) {
	for i := len(f.entries) - 1; i >= 0; i-- {
		if e := f.entries[i]; (e.line() == line || e.value.Line == line) && ok(e) {
			return e, true
		}
	}
	return yamlEntry{}, false
}

// lineOf finds the line of path, or of its nearest ancestor in the file;
// when rest starts with a quoted value of a list at path, the line of
// that element. 0 when no part of path is in the file.
func (f *yamlFile) lineOf(path, rest string) int {
	segs := pathSegment.FindAllString(path, -1)
	for n := len(segs); n > 0; n-- {
		p := strings.Join(segs[:n], ".")
		p = strings.ReplaceAll(p, ".[", "[")
		for _, e := range f.entries {
			if e.path != p {
				continue
			}
			if q := quotedAtStart.FindString(rest); q != "" && n == len(segs) && e.value.Kind == yaml.SequenceNode {
				if v, err := strconv.Unquote(q); err == nil {
					for _, el := range e.value.Content {
						if el.Kind == yaml.ScalarNode && el.Value == v {
							return el.Line
						}
					}
				}
			}
			return e.line()
		}
	}
	return 0
}

// matches says whether n is the node yaml.v3 described by tag and its
// value (cut to 7 characters and "..." past 10).
func matches(n *yaml.Node, tag, value string) bool {
	switch tag {
	case "!!seq":
		return n.Kind == yaml.SequenceNode
	case "!!map":
		return n.Kind == yaml.MappingNode
	}
	if n.Kind != yaml.ScalarNode {
		return false
	}
	if v, ok := strings.CutSuffix(value, "..."); ok && len(n.Value) > 10 {
		return strings.HasPrefix(n.Value, v)
	}
	return n.Value == value
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a map"
	}
	return describeTag(n.ShortTag(), n.Value)
}

func describeTag(tag, value string) string {
	switch tag {
	case "!!seq":
		return "a list"
	case "!!map":
		return "a map"
	case "!!null":
		return "nothing"
	case "!!str", "!!binary", "!!timestamp":
		return strconv.Quote(value)
	}
	return value
}

// describeGoType says in YAML terms what a Go type of the file takes.
func describeGoType(t string) string {
	t = strings.TrimLeft(t, "*")
	switch {
	case strings.HasPrefix(t, "[]"):
		if strings.Contains(t, "float") {
			return "a list of numbers, like [0.5, 0.9]"
		}
		return "a list, like [a, b]"
	case strings.HasPrefix(t, "map["):
		return "a map of key: value"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "bool":
		return "true or false"
	case t == "string":
		return "a single value"
	case t == "main.fileConfig":
		return "a map of settings at the top level"
	}
	return "a map of settings"
}
