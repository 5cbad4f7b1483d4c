"""Formula fields: a small, safe expression language over one record's fields.

The language (documented for admins on the field form)::

    expr     := or
    or       := and ("or" and)*
    and      := not ("and" not)*
    not      := "not" not | compare
    compare  := concat (("=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=") concat)?
    concat   := sum ("&" sum)*
    sum      := product (("+" | "-") product)*
    product  := unary (("*" | "/") unary)*
    unary    := "-" unary | primary
    primary  := NUMBER | STRING | "true" | "false" | "blank" | NAME | NAME "(" args ")"
              | "(" expr ")"

Names: a built-in field by its bare name (``amount``, ``name``, ``expected_close_date``), a custom
field always as ``custom.<api_name>`` (so a custom field can never be mistaken for a built-in one,
and a built-in field added later cannot change what an existing formula means).

Values have one of four types: number (exact decimals), text, date and checkbox. Blank (no value)
passes through arithmetic and comparisons as blank; ``&`` reads blank as empty text; ``if`` and
``and``/``or``/``not`` read blank as false; ``coalesce`` and ``isblank`` handle it explicitly.
Division by zero, a number of 18 digits or more and a text over 10,000 characters give blank.

Safety: a hand-written tokenizer and recursive-descent parser build a tree of plain tuples, and
an evaluator walks it; nothing is ever handed to Python's eval, exec or compile, names are looked
up in a dict of the record's values (no attribute access exists in the grammar: ``a.b`` is only
legal as ``custom.<api_name>``), expressions are limited in length and nesting, and number
literals have no exponent form.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal, DivisionByZero, InvalidOperation, localcontext
from typing import Any

MAX_LENGTH = 2000
MAX_DEPTH = 40
MAX_TEXT = 10_000
LIMIT = Decimal(10) ** 18
RESULT_TYPES = ("number", "currency", "text", "date", "checkbox")
#: The formula type each result type needs from its expression.
RESULT_KIND = {
    "number": "number", "currency": "number", "text": "text", "date": "date",
    "checkbox": "checkbox",
}  # fmt: skip
KINDS = ("number", "text", "date", "checkbox")
BLANK = "blank"  # the type of the literal ``blank``: fits anywhere

_OPERATORS = ("==", "!=", "<>", "<=", ">=", "=", "<", ">", "+", "-", "*", "/", "&", "(", ")", ",")
_KEYWORDS = {"and", "or", "not", "true", "false", "blank"}
_COMPARE = {"=", "==", "!=", "<>", "<", "<=", ">", ">="}


class FormulaError(Exception):
    """The expression is wrong; ``position`` is the 1-based column of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"At position {position}: {message}")
        self.message = message
        self.position = position


class _Blank(Exception):
    """A limit was passed while evaluating: the result is blank."""


@dataclasses.dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, op, keyword, end
    text: str
    value: Any
    position: int  # 1-based


def tokenize(source: str) -> list[Token]:
    """Split an expression into tokens; FormulaError names the first character that fits none."""
    if len(source) > MAX_LENGTH:
        raise FormulaError(f"the formula is longer than {MAX_LENGTH} characters", MAX_LENGTH + 1)
    tokens: list[Token] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        start = i + 1
        if ch in " \t\r\n":
            i += 1
            continue
        if ch.isdigit() or (ch == "." and i + 1 < n and source[i + 1].isdigit()):
            j = i
            while j < n and source[j].isdigit():
                j += 1
            if j < n and source[j] == ".":
                j += 1
                while j < n and source[j].isdigit():
                    j += 1
            text = source[i:j]
            if j < n and (source[j].isalpha() or source[j] == "_"):
                raise FormulaError(f"“{source[i : j + 1]}” is not a number", start)
            if len(text.replace(".", "").lstrip("0")) > 18:
                raise FormulaError("numbers have at most 18 digits", start)
            tokens.append(Token("number", text, Decimal(text), start))
            i = j
            continue
        if ch in "\"'":
            j, out = i + 1, []
            while j < n and source[j] != ch:
                if source[j] == "\\" and j + 1 < n:
                    j += 1
                out.append(source[j])
                j += 1
            if j >= n:
                raise FormulaError("this text has no closing quote", start)
            tokens.append(Token("string", source[i : j + 1], "".join(out), start))
            i = j + 1
            continue
        if ch.isalpha() or ch == "_":
            j = i
            while j < n and (source[j].isalnum() or source[j] == "_"):
                j += 1
            word = source[i:j]
            if word == "custom" and j < n and source[j] == ".":
                k = j + 1
                while k < n and (source[k].isalnum() or source[k] == "_"):
                    k += 1
                if k == j + 1:
                    raise FormulaError("write a custom field as custom.<api name>", start)
                tokens.append(Token("name", source[i:k], source[i:k], start))
                i = k
                continue
            if j < n and source[j] == ".":
                raise FormulaError(
                    f"“{word}.” : only custom fields are written with a dot (custom.<api name>)",
                    j + 1,
                )
            lower = word.lower()
            if lower in _KEYWORDS:
                tokens.append(Token("keyword", word, lower, start))
            else:
                tokens.append(Token("name", word, word, start))
            i = j
            continue
        op = next((o for o in _OPERATORS if source.startswith(o, i)), None)
        if op is None:
            raise FormulaError(f"“{ch}” is not allowed here", start)
        tokens.append(Token("op", op, op, start))
        i += len(op)
    tokens.append(Token("end", "", None, n + 1))
    return tokens


# -- the tree: tuples (kind, position, ...) --------------------------------------------------------
# ("lit", pos, value, type) ("ref", pos, name) ("neg", pos, x) ("not", pos, x)
# ("bin", pos, op, a, b) ("call", pos, name, [args])


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> Token:
        if self.tok.text != text or self.tok.kind != "op":
            raise FormulaError(
                f"expected “{text}” but found {_describe(self.tok)}", self.tok.position
            )
        return self.take()

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FormulaError(
                f"the formula nests deeper than {MAX_DEPTH} levels", self.tok.position
            )

    def parse(self) -> tuple:
        if self.tok.kind == "end":
            raise FormulaError("the formula is empty", 1)
        node = self.expr()
        if self.tok.kind != "end":
            raise FormulaError(f"unexpected {_describe(self.tok)}", self.tok.position)
        return node

    def expr(self) -> tuple:
        self.nest()
        try:
            return self.or_()
        finally:
            self.depth -= 1

    def _binary(self, next_: Callable[[], tuple], ops: set[str], keyword: bool = False) -> tuple:
        node = next_()
        while (self.tok.kind == ("keyword" if keyword else "op")) and (
            (self.tok.value if keyword else self.tok.text) in ops
        ):
            op = self.take()
            node = ("bin", op.position, op.value if keyword else op.text, node, next_())
        return node

    def or_(self) -> tuple:
        return self._binary(self.and_, {"or"}, keyword=True)

    def and_(self) -> tuple:
        return self._binary(self.not_, {"and"}, keyword=True)

    def not_(self) -> tuple:
        if self.tok.kind == "keyword" and self.tok.value == "not":
            op = self.take()
            self.nest()
            try:
                return ("not", op.position, self.not_())
            finally:
                self.depth -= 1
        return self.compare()

    def compare(self) -> tuple:
        node = self.concat()
        if self.tok.kind == "op" and self.tok.text in _COMPARE:
            op = self.take()
            node = ("bin", op.position, op.text, node, self.concat())
            if self.tok.kind == "op" and self.tok.text in _COMPARE:
                raise FormulaError("combine comparisons with and/or", self.tok.position)
        return node

    def concat(self) -> tuple:
        return self._binary(self.sum_, {"&"})

    def sum_(self) -> tuple:
        return self._binary(self.product, {"+", "-"})

    def product(self) -> tuple:
        return self._binary(self.unary, {"*", "/"})

    def unary(self) -> tuple:
        if self.tok.kind == "op" and self.tok.text == "-":
            op = self.take()
            self.nest()
            try:
                return ("neg", op.position, self.unary())
            finally:
                self.depth -= 1
        return self.primary()

    def primary(self) -> tuple:
        tok = self.tok
        if tok.kind == "number":
            self.take()
            return ("lit", tok.position, tok.value, "number")
        if tok.kind == "string":
            self.take()
            return ("lit", tok.position, tok.value, "text")
        if tok.kind == "keyword" and tok.value in ("true", "false"):
            self.take()
            return ("lit", tok.position, tok.value == "true", "checkbox")
        if tok.kind == "keyword" and tok.value == "blank":
            self.take()
            return ("lit", tok.position, None, BLANK)
        if tok.kind == "name":
            self.take()
            if self.tok.kind == "op" and self.tok.text == "(":
                self.take()
                args: list[tuple] = []
                if not (self.tok.kind == "op" and self.tok.text == ")"):
                    args.append(self.expr())
                    while self.tok.kind == "op" and self.tok.text == ",":
                        self.take()
                        args.append(self.expr())
                self.expect(")")
                return ("call", tok.position, tok.value.lower(), args)
            return ("ref", tok.position, tok.value)
        if tok.kind == "op" and tok.text == "(":
            self.take()
            node = self.expr()
            self.expect(")")
            return node
        raise FormulaError(f"expected a value but found {_describe(tok)}", tok.position)


def _describe(tok: Token) -> str:
    return "the end of the formula" if tok.kind == "end" else f"“{tok.text}”"


def parse(source: str) -> tuple:
    """The expression's tree; FormulaError (with the position) when it is not well formed."""
    return _Parser(tokenize(source)).parse()


# -- functions: name -> (argument types, result type, implementation) -----------------------------
# An argument type "any" accepts every type; "same" ties arguments (and the result) together.
def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _count(n: Any) -> int:
    if n is None:
        raise _Blank
    n = int(n)
    return max(0, min(n, MAX_TEXT))


def _add_days(d: dt.date | None, n: Decimal | None) -> dt.date | None:
    if d is None or n is None:
        return None
    try:
        return d + dt.timedelta(days=int(n))
    except (OverflowError, ValueError):
        raise _Blank from None


def _round(x: Decimal | None, places: Decimal | None = None) -> Decimal | None:
    if x is None:
        return None
    digits = int(places) if places is not None else 0
    if not -10 <= digits <= 10:
        raise _Blank
    return x.quantize(Decimal(1).scaleb(-digits))


def _none_safe(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any) -> Any:
        return None if any(a is None for a in args) else fn(*args)

    return wrapped


FUNCTIONS: dict[str, tuple[tuple[str, ...], str, Callable[..., Any]]] = {
    "upper": (("text",), "text", lambda s: None if s is None else s.upper()),
    "lower": (("text",), "text", lambda s: None if s is None else s.lower()),
    "trim": (("text",), "text", lambda s: None if s is None else " ".join(s.split())),
    "len": (("text",), "number", lambda s: Decimal(len(s or ""))),
    "left": (("text", "number"), "text", _none_safe(lambda s, n: s[: _count(n)])),
    "right": (("text", "number"), "text",
              _none_safe(lambda s, n: s[len(s) - _count(n):] if _count(n) else "")),
    "today": ((), "date", _today),
    "days_between": (("date", "date"), "number", _none_safe(lambda a, b: Decimal((b - a).days))),
    "add_days": (("date", "number"), "date", _add_days),
    "year": (("date",), "number", _none_safe(lambda d: Decimal(d.year))),
    "month": (("date",), "number", _none_safe(lambda d: Decimal(d.month))),
    "day": (("date",), "number", _none_safe(lambda d: Decimal(d.day))),
    "abs": (("number",), "number", _none_safe(abs)),
    "round": (("number", "number?"), "number", _round),
    "isblank": (("any",), "checkbox", lambda v: v is None or v == ""),
    "text": (("any",), "text", lambda v: None if v is None else _text_of(v)),
}  # fmt: skip
#: Functions whose arguments share one type, the result's: if(cond, a, b), coalesce(a, b, ...).
SPECIAL = ("if", "coalesce")


# -- type checking ---------------------------------------------------------------------------------
def check(tree: tuple, names: Mapping[str, str]) -> str:
    """The expression's type given ``names`` (reference -> type); FormulaError on a mismatch."""
    kind = tree[0]
    pos = tree[1]
    if kind == "lit":
        return tree[3]
    if kind == "ref":
        name = tree[2]
        if name not in names:
            if not name.startswith("custom.") and f"custom.{name}" in names:
                raise FormulaError(f"“{name}” is a custom field: write custom.{name}", pos)
            raise FormulaError(f"there is no field “{name}” on this record", pos)
        return names[name]
    if kind == "neg":
        _want(check(tree[2], names), "number", pos, "“-”")
        return "number"
    if kind == "not":
        _want(check(tree[2], names), "checkbox", pos, "not")
        return "checkbox"
    if kind == "bin":
        op, a, b = tree[2], check(tree[3], names), check(tree[4], names)
        if op in ("and", "or"):
            _want(a, "checkbox", pos, op)
            _want(b, "checkbox", pos, op)
            return "checkbox"
        if op == "&":
            return "text"
        if op in ("+", "-", "*", "/"):
            _want(a, "number", pos, f"“{op}”")
            _want(b, "number", pos, f"“{op}”")
            return "number"
        if a != b and BLANK not in (a, b):
            raise FormulaError(f"cannot compare {a} with {b}", pos)
        if op in ("<", "<=", ">", ">=") and (a if a != BLANK else b) == "checkbox":
            raise FormulaError("checkboxes are only compared with = or !=", pos)
        return "checkbox"
    name, args = tree[2], tree[3]
    types = [check(arg, names) for arg in args]
    if name == "if":
        if len(args) != 3:
            raise FormulaError("if takes three values: if(condition, then, else)", pos)
        _want(types[0], "checkbox", pos, "the condition of if")
        return _same(types[1:], pos, "if")
    if name == "coalesce":
        if len(args) < 2:
            raise FormulaError("coalesce takes two values or more", pos)
        return _same(types, pos, "coalesce")
    spec = FUNCTIONS.get(name)
    if spec is None:
        known = ", ".join(sorted((*FUNCTIONS, *SPECIAL)))
        raise FormulaError(f"there is no function “{name}” (known: {known})", pos)
    wanted, result, _fn = spec
    least = sum(1 for w in wanted if not w.endswith("?"))
    if not least <= len(args) <= len(wanted):
        count = str(least) if least == len(wanted) else f"{least} or {len(wanted)}"
        raise FormulaError(f"{name} takes {count} value(s), not {len(args)}", pos)
    for want, got in zip(wanted, types, strict=False):
        if want != "any":
            _want(got, want.rstrip("?"), pos, name)
    return result


def _want(got: str, want: str, pos: int, where: str) -> None:
    if got not in (want, BLANK):
        raise FormulaError(f"{where} needs a {want}, not a {got}", pos)


def _same(types: list[str], pos: int, where: str) -> str:
    real = {t for t in types if t != BLANK}
    if len(real) > 1:
        raise FormulaError(
            f"the values of {where} must have one type, not {' and '.join(sorted(real))}", pos
        )
    return real.pop() if real else BLANK


def references(tree: tuple) -> set[str]:
    """The field names an expression reads."""
    if tree[0] == "ref":
        return {tree[2]}
    found: set[str] = set()
    for part in tree[2:]:
        if isinstance(part, tuple):
            found |= references(part)
        elif isinstance(part, list):
            for arg in part:
                found |= references(arg)
    return found


def compile_formula(source: str, names: Mapping[str, str], result_type: str) -> tuple:
    """Parse and type-check for a declared result type; return the tree."""
    tree = parse(source)
    got = check(tree, names)
    want = RESULT_KIND[result_type]
    if got not in (want, BLANK):
        raise FormulaError(f"the formula gives a {got}, but the field's result is a {want}", 1)
    return tree


# -- evaluation ------------------------------------------------------------------------------------
def evaluate(tree: tuple, values: Mapping[str, Any]) -> Any:
    """The value of a checked expression for one record's ``values``; None means blank."""
    try:
        with localcontext() as ctx:
            ctx.prec = 34
            ctx.traps[DivisionByZero] = True
            ctx.traps[InvalidOperation] = True
            result = _eval(tree, values)
    except _Blank:
        return None
    if isinstance(result, Decimal) and (not result.is_finite() or abs(result) >= LIMIT):
        return None
    return result


def _truthy(value: Any) -> bool:
    return value is True


def _eval(tree: tuple, values: Mapping[str, Any]) -> Any:
    kind = tree[0]
    if kind == "lit":
        return tree[2]
    if kind == "ref":
        return values.get(tree[2])
    if kind == "neg":
        x = _eval(tree[2], values)
        return None if x is None else -x
    if kind == "not":
        return not _truthy(_eval(tree[2], values))
    if kind == "bin":
        op = tree[2]
        if op == "and":
            return _truthy(_eval(tree[3], values)) and _truthy(_eval(tree[4], values))
        if op == "or":
            return _truthy(_eval(tree[3], values)) or _truthy(_eval(tree[4], values))
        a, b = _eval(tree[3], values), _eval(tree[4], values)
        if op == "&":
            text = _text_of(a) + _text_of(b)
            if len(text) > MAX_TEXT:
                raise _Blank
            return text
        if a is None or b is None:
            return None
        try:
            if op == "+":
                result = a + b
            elif op == "-":
                result = a - b
            elif op == "*":
                result = a * b
            elif op == "/":
                result = a / b
            else:
                return _compare(op, a, b)
        except (DivisionByZero, InvalidOperation, ArithmeticError):
            raise _Blank from None
        if abs(result) >= LIMIT:
            raise _Blank
        return result
    name, args = tree[2], tree[3]
    if name == "if":
        cond = _truthy(_eval(args[0], values))
        return _eval(args[1] if cond else args[2], values)
    if name == "coalesce":
        for arg in args:
            value = _eval(arg, values)
            if value is not None and value != "":
                return value
        return None
    result = FUNCTIONS[name][2](*(_eval(arg, values) for arg in args))
    if isinstance(result, str) and len(result) > MAX_TEXT:
        raise _Blank
    return result


def _compare(op: str, a: Any, b: Any) -> bool:
    if op in ("=", "=="):
        return bool(a == b)
    if op in ("!=", "<>"):
        return bool(a != b)
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def stored(result_type: str, value: Any, currency: str | None = None) -> Any:
    """A formula's value in the JSON form its result type is stored in (None: blank)."""
    if value is None or value == "":
        return None
    if result_type == "number":
        return _text_of(value)
    if result_type == "currency":
        amount = value.quantize(Decimal("0.01"))
        return {"amount": format(amount, "f"), "currency": currency or ""}
    if result_type == "date":
        return value.isoformat()
    if result_type == "checkbox":
        return bool(value)
    return _text_of(value)
