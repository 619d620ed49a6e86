package names

// adjectives and nouns make up generated names. Every word is 3-8
// lowercase ASCII letters, so "adjective-noun-<suffix>" stays far below
// MaxLen. Keep the lists free of duplicates and of words that read badly
// in pairs; the tests check the mechanical rules.
var adjectives = []string{
	"able", "agile", "amber", "ample", "azure", "bold", "brave", "bright",
	"brisk", "calm", "candid", "clever", "cosmic", "crisp", "curious", "daring",
	"deft", "eager", "early", "fancy", "fleet", "fresh", "gentle", "glad",
	"golden", "grand", "happy", "hardy", "honest", "jolly", "keen", "kind",
	"lively", "lucky", "lunar", "mellow", "merry", "mighty", "nimble", "noble",
	"polite", "proud", "quick", "quiet", "rapid", "serene", "silver", "steady",
	"sunny", "swift", "tidy", "witty",
}

var nouns = []string{
	"badger", "beaver", "bison", "cedar", "comet", "condor", "coral", "crane",
	"dolphin", "eagle", "falcon", "fern", "finch", "fox", "gecko", "glacier",
	"harbor", "hawk", "heron", "ibis", "island", "jaguar", "koala", "lark",
	"lemur", "lynx", "maple", "meadow", "meteor", "moose", "newt", "orca",
	"osprey", "otter", "owl", "panda", "pebble", "pine", "puffin", "quail",
	"raven", "reef", "river", "robin", "salmon", "seal", "sparrow", "tiger",
	"walrus", "willow", "wombat", "zebra",
}
