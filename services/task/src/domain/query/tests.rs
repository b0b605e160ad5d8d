//! The grammar, field and value checks, limits and error positions.

use std::cmp::Ordering;

use chrono::{DateTime, TimeZone, Utc};

use super::{filter::FilterParser, *};

// --- helpers -----------------------------------------------------------

fn ok(input: &str) -> Filter {
    parse_filter(input).unwrap_or_else(|e| panic!("{input:?} should parse, got error: {e}"))
}

fn err(input: &str) -> QueryError {
    match parse_filter(input) {
        Ok(filter) => panic!("{input:?} should fail, parsed as {filter:?}"),
        Err(e) => e,
    }
}

fn pred(predicate: Predicate) -> Filter {
    Filter::Predicate(predicate)
}

fn not(filter: Filter) -> Filter {
    Filter::Not(Box::new(filter))
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

fn search(text: &str) -> Filter {
    pred(Predicate::Search(text.to_owned()))
}

fn state(negated: bool, value: TaskState) -> Filter {
    pred(Predicate::State { negated, value })
}

fn priority(cmp: Cmp, value: Priority) -> Filter {
    pred(Predicate::Priority { cmp, value })
}

fn tag(name: &str) -> Filter {
    pred(Predicate::HasTag(name.to_owned()))
}

fn syntax_error_at(e: &QueryError) -> (usize, &str) {
    match e {
        QueryError::FilterSyntax { position, message } => (*position, message.as_str()),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

// --- fields and operators ----------------------------------------------

#[test]
fn state_restrictions() {
    use TaskState::*;
    let cases = [
        ("state = OPEN", state(false, Open)),
        ("state=OPEN", state(false, Open)),
        ("state = COMPLETED", state(false, Completed)),
        ("state != OPEN", state(true, Open)),
        ("state!=COMPLETED", state(true, Completed)),
        ("state = STATE_OPEN", state(false, Open)),
        ("state = STATE_COMPLETED", state(false, Completed)),
        ("status = OPEN", state(false, Open)),
        ("status != STATE_COMPLETED", state(true, Completed)),
        ("state = open", state(false, Open)),
        ("state = \"OPEN\"", state(false, Open)),
    ];
    for (input, expected) in cases {
        assert_eq!(ok(input), expected, "{input}");
    }
}

#[test]
fn priority_restrictions() {
    use Priority as P;
    let cmps = [("=", Cmp::Eq), ("!=", Cmp::Ne), ("<", Cmp::Lt), ("<=", Cmp::Le), (">", Cmp::Gt), (">=", Cmp::Ge)];
    let values = [
        ("NONE", P::None),
        ("LOW", P::Low),
        ("MEDIUM", P::Medium),
        ("HIGH", P::High),
        ("URGENT", P::Urgent),
        ("PRIORITY_NONE", P::None),
        ("PRIORITY_LOW", P::Low),
        ("PRIORITY_MEDIUM", P::Medium),
        ("PRIORITY_HIGH", P::High),
        ("PRIORITY_URGENT", P::Urgent),
        ("high", P::High),
    ];
    for (symbol, cmp) in cmps {
        for (text, value) in values {
            for input in [format!("priority {symbol} {text}"), format!("priority{symbol}{text}")] {
                assert_eq!(ok(&input), priority(cmp, value), "{input}");
            }
        }
    }
}

#[test]
fn priority_rank_follows_the_ladder() {
    use Priority as P;
    let ladder = [P::None, P::Low, P::Medium, P::High, P::Urgent];
    let ranks: Vec<i32> = ladder.iter().map(|p| p.rank()).collect();
    assert_eq!(ranks, [0, 1, 2, 3, 4]);
}

#[test]
fn cmp_holds() {
    use Ordering::*;
    let cases = [
        (Cmp::Eq, [false, true, false]),
        (Cmp::Ne, [true, false, true]),
        (Cmp::Lt, [true, false, false]),
        (Cmp::Le, [true, true, false]),
        (Cmp::Gt, [false, false, true]),
        (Cmp::Ge, [false, true, true]),
    ];
    for (cmp, expected) in cases {
        let got = [Less, Equal, Greater].map(|o| cmp.holds(o));
        assert_eq!(got, expected, "{cmp:?}");
    }
}

#[test]
fn tag_restrictions() {
    let cases = [
        ("tags:work", tag("work")),
        ("tags:\"work\"", tag("work")),
        ("tags : \"deep work\"", tag("deep work")),
        ("tags:Work", tag("Work")),
        ("tags:*", pred(Predicate::HasAnyTag)),
        ("tags : *", pred(Predicate::HasAnyTag)),
        ("tags:\"*\"", tag("*")),
        ("tags:c++/rust", tag("c++/rust")),
    ];
    for (input, expected) in cases {
        assert_eq!(ok(input), expected, "{input}");
    }
}

#[test]
fn text_restrictions() {
    use TextField::*;
    let contains = |field, needle: &str| pred(Predicate::TextContains { field, needle: needle.to_owned() });
    let equals = |field, negated, value: &str| pred(Predicate::TextEquals { field, negated, value: value.to_owned() });
    let cases = [
        ("title:milk", contains(Title, "milk")),
        ("title : \"buy milk\"", contains(Title, "buy milk")),
        ("description:milk", contains(Description, "milk")),
        ("title:\"*\"", contains(Title, "*")),
        ("title = \"Buy milk\"", equals(Title, false, "Buy milk")),
        ("title=milk", equals(Title, false, "milk")),
        ("title != milk", equals(Title, true, "milk")),
        ("description = \"\"", equals(Description, false, "")),
        ("description != \"x y\"", equals(Description, true, "x y")),
    ];
    for (input, expected) in cases {
        assert_eq!(ok(input), expected, "{input}");
    }
}

#[test]
fn time_restrictions_every_field_and_operator() {
    let fields = [
        ("due_time", TimeField::Due),
        ("due", TimeField::Due),
        ("create_time", TimeField::Create),
        ("update_time", TimeField::Update),
        ("complete_time", TimeField::Complete),
        ("delete_time", TimeField::Delete),
    ];
    let cmps = [("=", Cmp::Eq), ("!=", Cmp::Ne), ("<", Cmp::Lt), ("<=", Cmp::Le), (">", Cmp::Gt), (">=", Cmp::Ge)];
    let value = utc(2026, 12, 1, 9, 0, 0);
    for (name, field) in fields {
        for (symbol, cmp) in cmps {
            for input in [
                format!("{name} {symbol} 2026-12-01T09:00:00Z"),
                format!("{name}{symbol}2026-12-01T09:00:00Z"),
                format!("{name} {symbol} \"2026-12-01T09:00:00Z\""),
            ] {
                assert_eq!(ok(&input), pred(Predicate::Time { field, cmp, value }), "{input}");
            }
        }
        let is_set = format!("{name}:*");
        assert_eq!(ok(&is_set), pred(Predicate::TimeIsSet(field)), "{is_set}");
    }
}

#[test]
fn time_values_are_normalised_to_utc() {
    let nanos = |t: DateTime<Utc>, ns: u32| t + chrono::Duration::nanoseconds(i64::from(ns));
    let cases = [
        ("2026-12-01T09:00:00Z", utc(2026, 12, 1, 9, 0, 0)),
        ("2026-12-01T09:00:00+02:00", utc(2026, 12, 1, 7, 0, 0)),
        ("2026-12-01T00:30:00-05:30", utc(2026, 12, 1, 6, 0, 0)),
        ("2026-12-01T23:00:00-02:00", utc(2026, 12, 2, 1, 0, 0)),
        ("2026-12-01T09:00:00.25Z", nanos(utc(2026, 12, 1, 9, 0, 0), 250_000_000)),
        ("2026-12-01", utc(2026, 12, 1, 0, 0, 0)),
        ("2024-02-29", utc(2024, 2, 29, 0, 0, 0)),
    ];
    for (text, expected) in cases {
        let input = format!("due < {text}");
        let got = ok(&input);
        let want = pred(Predicate::Time { field: TimeField::Due, cmp: Cmp::Lt, value: expected });
        assert_eq!(got, want, "{input}");
    }
}

#[test]
fn bare_values_end_at_whitespace_or_closing_paren() {
    let due_before = pred(Predicate::Time { field: TimeField::Due, cmp: Cmp::Lt, value: utc(2026, 12, 1, 7, 0, 0) });
    let cases = [
        ("(due<2026-12-01T09:00:00+02:00)", due_before.clone()),
        ("(tags:work OR due < 2026-12-01T09:00:00+02:00)", Filter::Or(vec![tag("work"), due_before.clone()])),
        ("due < 2026-12-01T09:00:00+02:00 tags:a:b", Filter::And(vec![due_before, tag("a:b")])),
        ("(tags:x)(tags:y)", Filter::And(vec![tag("x"), tag("y")])),
    ];
    for (input, expected) in cases {
        assert_eq!(ok(input), expected, "{input}");
    }
}

#[test]
fn global_search() {
    let cases = [
        ("milk", search("milk")),
        ("\"buy milk\"", search("buy milk")),
        ("  milk  ", search("milk")),
        ("Müller", search("Müller")),
        ("e-mail", search("e-mail")),
        ("milk eggs", Filter::And(vec![search("milk"), search("eggs")])),
        ("-milk", not(search("milk"))),
        ("\"AND\"", search("AND")),
        ("\"\"", search("")),
        ("milk state = OPEN", Filter::And(vec![search("milk"), state(false, TaskState::Open)])),
        ("milk OR eggs", Filter::Or(vec![search("milk"), search("eggs")])),
    ];
    for (input, expected) in cases {
        assert_eq!(ok(input), expected, "{input}");
    }
}

#[test]
fn quoted_strings_and_escapes() {
    let title = |needle: &str| pred(Predicate::TextContains { field: TextField::Title, needle: needle.to_owned() });
    let cases = [
        (r#"title:"say \"hi\"""#, title("say \"hi\"")),
        (r#"title:"back\\slash""#, title("back\\slash")),
        (r#"title:"\\\"""#, title("\\\"")),
        (r#"title:"a)b(c""#, title("a)b(c")),
        (r#"title:"x AND y""#, title("x AND y")),
        (r#"title:"colon: here""#, title("colon: here")),
        (r#"title:"  spaced  ""#, title("  spaced  ")),
        (r#""a \"quoted\" search""#, search("a \"quoted\" search")),
    ];
    for (input, expected) in cases {
        assert_eq!(ok(input), expected, "{input}");
    }
}

#[test]
fn empty_filter_means_all() {
    for input in ["", " ", "\n\t  "] {
        assert_eq!(ok(input), Filter::All, "{input:?}");
    }
}

#[test]
fn whitespace_is_insignificant() {
    let expected = Filter::And(vec![state(false, TaskState::Open), priority(Cmp::Ge, Priority::High)]);
    for input in [
        "state=OPEN AND priority>=HIGH",
        "  state   =   OPEN   AND   priority   >=   HIGH  ",
        "\tstate\n=\nOPEN\r\nAND\tpriority >=HIGH",
        "(state = OPEN)AND(priority >= HIGH)",
        "( state = OPEN ) ( priority >= HIGH )",
    ] {
        assert_eq!(ok(input), expected, "{input:?}");
    }
}

// --- precedence ----------------------------------------------------------

#[test]
fn precedence_and_grouping() {
    let a = || state(false, TaskState::Open);
    let b = || priority(Cmp::Gt, Priority::Low);
    let c = || tag("work");
    let d = || search("milk");
    let and = Filter::And;
    let or = Filter::Or;
    // a = `state = OPEN`, b = `priority > LOW`, c = `tags:work`, d = `milk`
    let cases = [
        // OR binds tighter than AND (AIP-160).
        ("state = OPEN AND priority > LOW OR tags:work", and(vec![a(), or(vec![b(), c()])])),
        ("state = OPEN OR priority > LOW AND tags:work", and(vec![or(vec![a(), b()]), c()])),
        // Implicit AND behaves like AND.
        ("state = OPEN priority > LOW OR tags:work", and(vec![a(), or(vec![b(), c()])])),
        ("state = OPEN OR priority > LOW tags:work", and(vec![or(vec![a(), b()]), c()])),
        ("state = OPEN priority > LOW tags:work", and(vec![a(), b(), c()])),
        // Chains flatten.
        ("state = OPEN AND priority > LOW AND tags:work", and(vec![a(), b(), c()])),
        ("state = OPEN OR priority > LOW OR tags:work", or(vec![a(), b(), c()])),
        ("state = OPEN AND (priority > LOW AND tags:work)", and(vec![a(), b(), c()])),
        // Parentheses override.
        ("(state = OPEN AND priority > LOW) OR tags:work", or(vec![and(vec![a(), b()]), c()])),
        ("state = OPEN AND (priority > LOW OR tags:work) milk", and(vec![a(), or(vec![b(), c()]), d()])),
        ("((state = OPEN))", a()),
        // Negation applies to one term.
        ("NOT state = OPEN", not(a())),
        ("-state = OPEN", not(a())),
        ("-tags:work", not(c())),
        ("NOT state = OPEN OR priority > LOW", or(vec![not(a()), b()])),
        ("-state=OPEN priority > LOW", and(vec![not(a()), b()])),
        ("NOT (state = OPEN OR priority > LOW)", not(or(vec![a(), b()]))),
        ("NOT(state = OPEN)", not(a())),
        ("-(state = OPEN tags:work)", not(and(vec![a(), c()]))),
        ("NOT NOT state = OPEN", not(not(a()))),
        ("--state = OPEN", not(not(a()))),
        ("milk -tags:work", and(vec![d(), not(c())])),
        // Keywords are case-sensitive: lowercase ones are search words.
        ("state = OPEN and milk", and(vec![a(), search("and"), d()])),
        ("milk or tags:work", and(vec![d(), search("or"), c()])),
        ("not milk", and(vec![search("not"), d()])),
        // Words that merely start with a keyword are words.
        ("ANDROID", search("ANDROID")),
        ("NOTE OR ORDER", or(vec![search("NOTE"), search("ORDER")])),
    ];
    for (input, expected) in cases {
        assert_eq!(ok(input), expected, "{input}");
    }
}

// --- errors --------------------------------------------------------------

#[test]
fn unknown_field_message_names_field_position_and_alternatives() {
    let e = err("colour = red");
    assert_eq!(e, QueryError::UnknownFilterField { position: 0, name: "colour".to_owned() });
    assert_eq!(
        e.to_string(),
        "unknown field `colour` at position 0; filterable fields: state, priority, tags, \
         title, description, due_time, create_time, update_time, complete_time, delete_time"
    );
    assert_eq!(e.field(), "filter");
    assert_eq!(e.reason(), "INVALID_FILTER");
    assert_eq!(e.position(), Some(0));
}

#[test]
fn unknown_fields() {
    let cases = [
        ("colour = red", 0, "colour"),
        ("state = OPEN AND colour:red", 17, "colour"),
        ("Status = OPEN", 0, "Status"),
        ("foo:bar", 0, "foo"),
        ("(milk OR due_date < 2026-01-01)", 9, "due_date"),
        ("AND:x", 0, "AND"),
    ];
    for (input, position, name) in cases {
        assert_eq!(err(input), QueryError::UnknownFilterField { position, name: name.to_owned() }, "{input}");
    }
}

#[test]
fn invalid_values() {
    // (input, position of the value, field as written, value)
    let cases = [
        ("state = DONE", 8, "state", "DONE"),
        ("status != 1", 10, "status", "1"),
        ("state = STATE_", 8, "state", "STATE_"),
        ("priority = CRITICAL", 11, "priority", "CRITICAL"),
        ("priority > PRIORITY_", 11, "priority", "PRIORITY_"),
        ("priority >= \"\"", 12, "priority", ""),
        ("due < tomorrow", 6, "due", "tomorrow"),
        ("due < 2026-13-01", 6, "due", "2026-13-01"),
        ("due_time = 2026-12-01T25:00:00Z", 11, "due_time", "2026-12-01T25:00:00Z"),
        ("create_time > 2026-12-01T09:00:00", 14, "create_time", "2026-12-01T09:00:00"),
        ("update_time = *", 14, "update_time", "*"),
        ("due:2026-12-01", 4, "due", "2026-12-01"),
        ("due_time:\"*\"", 9, "due_time", "*"),
        ("tags:\"\"", 5, "tags", ""),
        ("title:*", 6, "title", "*"),
        ("description : *", 14, "description", "*"),
    ];
    for (input, position, field, value) in cases {
        match err(input) {
            QueryError::InvalidFilterValue { position: p, field: f, value: v, .. } => {
                assert_eq!((p, f.as_str(), v.as_str()), (position, field, value), "{input}")
            }
            other => panic!("{input}: expected InvalidFilterValue, got {other:?}"),
        }
    }
    let message = err("priority = CRITICAL").to_string();
    assert!(message.contains("`CRITICAL`"), "{message}");
    assert!(message.contains("NONE, LOW, MEDIUM, HIGH, URGENT"), "{message}");
}

#[test]
fn unsupported_operators() {
    // (input, position of the operator, field as written, operator)
    let cases = [
        ("tags = \"x\"", 5, "tags", "="),
        ("tags != x", 5, "tags", "!="),
        ("tags < x", 5, "tags", "<"),
        ("tags>=x", 4, "tags", ">="),
        ("state < OPEN", 6, "state", "<"),
        ("state >= OPEN", 6, "state", ">="),
        ("state:OPEN", 5, "state", ":"),
        ("status > OPEN", 7, "status", ">"),
        ("priority:HIGH", 8, "priority", ":"),
        ("title < b", 6, "title", "<"),
        ("description >= x", 12, "description", ">="),
    ];
    for (input, position, field, operator) in cases {
        match err(input) {
            QueryError::UnsupportedOperator { position: p, field: f, operator: o, .. } => {
                assert_eq!((p, f.as_str(), o), (position, field, operator), "{input}")
            }
            other => panic!("{input}: expected UnsupportedOperator, got {other:?}"),
        }
    }
    let message = err("tags = \"x\"").to_string();
    assert!(message.contains("only supports `:`"), "{message}");
}

#[test]
fn syntax_errors() {
    // (input, position, part of the message)
    let cases = [
        // unbalanced parentheses
        ("(state = OPEN", 0, "`(` is never closed"),
        ("((state = OPEN)", 0, "`(` is never closed"),
        ("(milk (eggs)", 0, "`(` is never closed"),
        ("(", 0, "`(` is never closed"),
        ("state = OPEN)", 12, "`)` has no matching `(`"),
        ("(milk))", 6, "`)` has no matching `(`"),
        (")", 0, "`)` has no matching `(`"),
        ("()", 0, "empty parentheses"),
        ("milk ( )", 5, "empty parentheses"),
        // dangling operators and keywords
        ("priority >", 9, "operator `>` is missing a value"),
        ("priority >   ", 9, "operator `>` is missing a value"),
        ("(priority >)", 10, "operator `>` is missing a value"),
        ("title:", 5, "operator `:` is missing a value"),
        ("priority > AND state = OPEN", 9, "operator `>` is missing a value"),
        ("state = OPEN AND", 13, "`AND` must be followed by an expression"),
        ("state = OPEN OR", 13, "`OR` must be followed by an expression"),
        ("(milk OR)", 6, "`OR` must be followed by an expression"),
        ("NOT", 0, "`NOT` must be followed by an expression"),
        ("milk NOT ", 5, "`NOT` must be followed by an expression"),
        ("-", 0, "`-` must be immediately followed"),
        ("- milk", 0, "`-` must be immediately followed"),
        ("AND milk", 0, "unexpected keyword `AND`"),
        ("milk OR AND eggs", 8, "unexpected keyword `AND`"),
        ("milk AND OR eggs", 9, "unexpected keyword `OR`"),
        // trailing garbage and stray characters
        ("state = OPEN #", 13, "unexpected character `#`"),
        ("state = OPEN, priority = HIGH", 12, "unexpected character `,` in a value"),
        ("state = OP#EN", 10, "unexpected character `#` in a value"),
        ("state = (OPEN)", 8, "unexpected character `(` in a value"),
        ("= OPEN", 0, "unexpected character `=`"),
        ("'milk'", 0, "unexpected character `'`"),
        ("state ! OPEN", 6, "expected `!=`"),
        // strings
        ("\"buy milk", 0, "unterminated string"),
        ("title:\"abc\\", 6, "unterminated string"),
        ("title:\"a\\nb\"", 8, "unsupported escape `\\n`"),
        ("\"milk\" = x", 0, "quoted string cannot be used as a field name"),
    ];
    for (input, position, fragment) in cases {
        let e = err(input);
        let (p, message) = syntax_error_at(&e);
        assert_eq!(p, position, "{input}: {e}");
        assert!(message.contains(fragment), "{input}: {e}");
        assert_eq!(e.field(), "filter");
        assert_eq!(e.reason(), "INVALID_FILTER");
    }
}

#[test]
fn input_length_is_bounded() {
    let at_limit = "x".repeat(MAX_INPUT_CHARS);
    assert_eq!(ok(&at_limit), search(&at_limit));
    // The limit counts characters, not bytes.
    let multibyte = "é".repeat(MAX_INPUT_CHARS);
    assert_eq!(ok(&multibyte), search(&multibyte));

    let too_long = "milk ".repeat(MAX_INPUT_CHARS);
    let e = err(&too_long);
    assert_eq!(e, QueryError::FilterTooLong { len: MAX_INPUT_CHARS * 5, max: MAX_INPUT_CHARS });
    assert_eq!(e.reason(), "INVALID_FILTER");
    assert_eq!(e.position(), None);
}

fn nested_parens(levels: usize, inner: &str) -> String {
    format!("{}{inner}{}", "(".repeat(levels), ")".repeat(levels))
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // 1 000 levels: rejected (here by the length limit, which comes first).
    assert!(parse_filter(&nested_parens(1_000, "state = OPEN")).is_err());

    let too_deep = QueryError::FilterTooDeep { position: MAX_NESTING_DEPTH, max: MAX_NESTING_DEPTH };
    let cases = [
        nested_parens(600, "milk"),
        nested_parens(MAX_NESTING_DEPTH + 1, "milk"),
        format!("{}milk", "-".repeat(1_000)),
        format!("{}milk", "-".repeat(MAX_NESTING_DEPTH + 1)),
        format!("{}milk", "(-".repeat(300)),
    ];
    for input in &cases {
        assert_eq!(err(input), too_deep, "{input}");
    }
    assert_eq!(
        err(&format!("{}milk", "NOT ".repeat(100))),
        QueryError::FilterTooDeep { position: 4 * MAX_NESTING_DEPTH, max: MAX_NESTING_DEPTH }
    );

    // Exactly at the limit is fine.
    assert_eq!(ok(&nested_parens(MAX_NESTING_DEPTH, "milk")), search("milk"));
    let mut expected = search("milk");
    for _ in 0..MAX_NESTING_DEPTH {
        expected = not(expected);
    }
    assert_eq!(ok(&format!("{}milk", "-".repeat(MAX_NESTING_DEPTH))), expected);
}

#[test]
fn depth_guard_alone_prevents_stack_overflow() {
    // Bypass the length limit to show the depth guard does not rely on it.
    let huge = nested_parens(100_000, "milk");
    assert!(matches!(FilterParser::new(&huge).parse(), Err(QueryError::FilterTooDeep { .. })));
    let huge = format!("{}milk", "NOT ".repeat(100_000));
    assert!(matches!(FilterParser::new(&huge).parse(), Err(QueryError::FilterTooDeep { .. })));
}

#[test]
fn arbitrary_input_never_panics() {
    // A cheap deterministic fuzz: every string over a small alphabet of
    // grammar-relevant characters, up to length 4.
    let alphabet: Vec<char> = "ab(-)\" :=<!\\*ANDOR".chars().collect();
    let mut inputs = vec![String::new()];
    for _ in 0..4 {
        let mut next = Vec::new();
        for prefix in &inputs {
            for &c in &alphabet {
                let mut s = prefix.clone();
                s.push(c);
                next.push(s);
            }
        }
        for s in &next {
            let _ = parse_filter(s);
            let _ = parse_order_by(s);
        }
        inputs = next;
    }
}

// --- order_by ------------------------------------------------------------

#[test]
fn order_by_happy_paths() {
    use Direction::*;
    use OrderField::*;
    let cases: [(&str, Vec<(OrderField, Direction)>); 12] = [
        ("", vec![(CreateTime, Asc)]),
        ("   ", vec![(CreateTime, Asc)]),
        ("priority", vec![(Priority, Asc)]),
        ("priority desc", vec![(Priority, Desc)]),
        ("priority asc", vec![(Priority, Asc)]),
        ("priority DESC", vec![(Priority, Desc)]),
        ("priority desc, due_time", vec![(Priority, Desc), (DueTime, Asc)]),
        ("  priority   desc ,due_time\tasc  ", vec![(Priority, Desc), (DueTime, Asc)]),
        ("due desc", vec![(DueTime, Desc)]),
        ("due", vec![(DueTime, Asc)]),
        (
            "title,create_time desc,update_time,complete_time Asc",
            vec![(Title, Asc), (CreateTime, Desc), (UpdateTime, Asc), (CompleteTime, Asc)],
        ),
        (
            "due_time, priority desc, create_time, update_time, complete_time, title",
            vec![
                (DueTime, Asc),
                (Priority, Desc),
                (CreateTime, Asc),
                (UpdateTime, Asc),
                (CompleteTime, Asc),
                (Title, Asc),
            ],
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(parse_order_by(input), Ok(OrderBy(expected)), "{input:?}");
    }
    assert_eq!(parse_order_by(""), Ok(OrderBy::default()));
}

#[test]
fn order_by_canonical_form() {
    let cases = [
        ("", "create_time asc"),
        ("priority desc, due", "priority desc,due_time asc"),
        ("  title  ", "title asc"),
        ("due DESC", "due_time desc"),
        ("due_time desc", "due_time desc"),
        ("complete_time,update_time desc", "complete_time asc,update_time desc"),
    ];
    for (input, expected) in cases {
        let order = parse_order_by(input).unwrap();
        assert_eq!(order.canonical(), expected, "{input:?}");
        // The canonical form parses back to the same keys.
        assert_eq!(parse_order_by(&order.canonical()), Ok(order), "{input:?}");
    }
}

#[test]
fn order_by_errors() {
    /// What a bad `order_by` must produce.
    enum Expect {
        Exactly(QueryError),
        SyntaxErrorAt(usize),
    }
    use Expect::*;
    let unknown = |position, name: &str| Exactly(QueryError::UnknownOrderField { position, name: name.to_owned() });
    let cases = [
        ("colour", unknown(0, "colour")),
        ("priority, colour desc", unknown(10, "colour")),
        ("PRIORITY", unknown(0, "PRIORITY")),
        ("state", unknown(0, "state")),
        ("delete_time", unknown(0, "delete_time")),
        ("priority sideways", Exactly(QueryError::InvalidDirection { position: 9, value: "sideways".to_owned() })),
        ("priority, priority desc", Exactly(QueryError::DuplicateOrderField { position: 10, name: "priority" })),
        ("due, due_time", Exactly(QueryError::DuplicateOrderField { position: 5, name: "due_time" })),
        ("priority,,due_time", SyntaxErrorAt(9)),
        ("priority, ,due_time", SyntaxErrorAt(9)),
        ("priority,", SyntaxErrorAt(9)),
        (",priority", SyntaxErrorAt(0)),
        (" , ", SyntaxErrorAt(0)),
        ("priority desc asc", SyntaxErrorAt(14)),
        ("priority desc due_time", SyntaxErrorAt(14)),
    ];
    for (input, expected) in cases {
        let e = parse_order_by(input).unwrap_err();
        match expected {
            Exactly(want) => assert_eq!(e, want, "{input:?}"),
            SyntaxErrorAt(position) => assert!(
                matches!(e, QueryError::OrderBySyntax { position: p, .. } if p == position),
                "{input:?}: expected a syntax error at {position}, got {e:?}"
            ),
        }
        assert_eq!(e.field(), "order_by", "{input:?}");
        assert_eq!(e.reason(), "INVALID_ORDER_BY", "{input:?}");
    }
}

#[test]
fn order_by_error_messages() {
    let cases = [
        (
            "colour",
            "unknown order_by field `colour` at position 0; sortable fields: due_time \
             (alias due), priority, create_time, update_time, complete_time, title",
        ),
        ("priority sideways", "invalid sort direction `sideways` at position 9; expected `asc` or `desc`"),
        ("due, due_time", "duplicate order_by field `due_time` at position 5; each field may be used only once"),
        (
            "priority,,due_time",
            "invalid order_by syntax at position 9: empty sort key; check for a doubled, \
             leading or trailing comma",
        ),
    ];
    for (input, message) in cases {
        assert_eq!(parse_order_by(input).unwrap_err().to_string(), message, "{input:?}");
    }
}

#[test]
fn order_by_length_is_bounded() {
    let too_long = "priority ".repeat(MAX_INPUT_CHARS);
    let e = parse_order_by(&too_long).unwrap_err();
    assert_eq!(e, QueryError::OrderByTooLong { len: MAX_INPUT_CHARS * 9, max: MAX_INPUT_CHARS });
    assert_eq!(e.field(), "order_by");
    assert_eq!(e.position(), None);
}
