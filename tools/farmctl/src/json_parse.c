/* SPDX-License-Identifier: MIT */
/*
 * The strict JSON parser of json_parse.h. A recursive descent over the input
 * whose depth is capped by the caller; the children of an open container are
 * gathered on one growable stack and moved into the document's arena when the
 * container closes, so every array and object ends up as one contiguous
 * vector with its count, in input order, duplicates included.
 */
#include "json_parse.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "farm/error.h"

/* Arena blocks: the tree is freed all at once with the document. */
struct arena_block {
  struct arena_block *next;
  size_t used;
  size_t cap;
  _Alignas(max_align_t) unsigned char data[];
};

#define ARENA_BLOCK_MIN (64u * 1024u)

struct json_doc {
  struct arena_block *blocks;
  struct json_value *root_items; /* the root container's items, if any */
  struct json_value root;
};

struct parser {
  const unsigned char *in;
  size_t len;
  size_t pos;
  unsigned max_depth;
  struct json_doc *doc;
  struct json_value *stack; /* children of the open containers */
  size_t stack_len;
  size_t stack_cap;
  struct json_error *err;
};

/* align: 1 for text, 8 for values. */
static void *arena_alloc(struct json_doc *doc, size_t size, size_t align)
{
  struct arena_block *b = doc->blocks;
  if (b != NULL)
    b->used = (b->used + align - 1) & ~(align - 1);
  if (b == NULL || b->used > b->cap || b->cap - b->used < size) {
    size_t cap = size > ARENA_BLOCK_MIN ? size : ARENA_BLOCK_MIN;
    b = malloc(sizeof *b + cap);
    if (b == NULL)
      return NULL;
    b->used = 0;
    b->cap = cap;
    b->next = doc->blocks;
    doc->blocks = b;
  }
  void *p = b->data + b->used;
  b->used += size;
  return p;
}

static int fail(struct parser *p, int code, size_t offset, const char *msg)
{
  p->err->offset = offset;
  p->err->msg = msg;
  return code;
}

static int fail_nomem(struct parser *p)
{
  return fail(p, FARM_ENOMEM, p->pos, "out of memory");
}

static void skip_ws(struct parser *p)
{
  /* RFC 8259 §2: the only insignificant whitespace. */
  while (p->pos < p->len) {
    unsigned char c = p->in[p->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
      break;
    p->pos++;
  }
}

static int push_child(struct parser *p, const struct json_value *v)
{
  if (p->stack_len == p->stack_cap) {
    size_t cap = p->stack_cap ? 2 * p->stack_cap : 64;
    struct json_value *s = realloc(p->stack, cap * sizeof *s);
    if (s == NULL)
      return fail_nomem(p);
    p->stack = s;
    p->stack_cap = cap;
  }
  p->stack[p->stack_len++] = *v;
  return 0;
}

/*
 * Moves the children gathered since base into the arena as v's items. The
 * root container takes the stack itself instead: a large document is most
 * often one big array or object, and this halves its peak memory.
 */
static int close_container(struct parser *p, size_t base, struct json_value *v, unsigned depth)
{
  size_t n = p->stack_len - base;
  v->u.items = NULL;
  if (n > 0 && depth == 1) {
    assert(base == 0);
    struct json_value *items = realloc(p->stack, n * sizeof *items);
    if (items == NULL)
      items = p->stack; /* shrinking failed: keep the larger block */
    v->u.items = items;
    p->doc->root_items = items;
    p->stack = NULL;
    p->stack_cap = 0;
    p->stack_len = 0;
    return 0;
  }
  if (n > 0) {
    struct json_value *items = arena_alloc(p->doc, n * sizeof *items, 8);
    if (items == NULL)
      return fail_nomem(p);
    memcpy(items, p->stack + base, n * sizeof *items);
    v->u.items = items;
  }
  p->stack_len = base;
  return 0;
}

static int hex4(const unsigned char *s, uint32_t *out)
{
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned char c = s[i];
    uint32_t d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10u;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10u;
    else
      return -1;
    v = v << 4 | d;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(unsigned char *o, uint32_t cp)
{
  if (cp < 0x80) {
    o[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (unsigned char)(0xc0 | cp >> 6);
    o[1] = (unsigned char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xe0 | cp >> 12);
    o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    o[2] = (unsigned char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (unsigned char)(0xf0 | cp >> 18);
  o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
  o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
  o[3] = (unsigned char)(0x80 | (cp & 0x3f));
  return 4;
}

/*
 * Length of the UTF-8 sequence at s (avail bytes), or 0 when it is not valid
 * UTF-8 (RFC 3629 §3: no overlongs, no surrogates, nothing above U+10FFFF).
 */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
  unsigned char c = s[0];
  size_t need;
  uint32_t cp;
  uint32_t min;
  if ((c & 0xe0) == 0xc0) {
    need = 1, cp = c & 0x1fu, min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    need = 2, cp = c & 0x0fu, min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    need = 3, cp = c & 0x07u, min = 0x10000;
  } else {
    return 0;
  }
  if (avail <= need)
    return 0;
  for (size_t k = 1; k <= need; k++) {
    if ((s[k] & 0xc0) != 0x80)
      return 0;
    cp = cp << 6 | (s[k] & 0x3fu);
  }
  if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
    return 0;
  return need + 1;
}

/* Parses the string whose opening quote is at p->pos into v (or a key). */
static int parse_string(struct parser *p, struct json_value *v)
{
  size_t start = p->pos;
  size_t i = start + 1;
  /* Find the closing quote first: the unescaped text is never longer than
   * the escaped one, so that sizes the arena allocation. */
  while (i < p->len && p->in[i] != '"')
    i += p->in[i] == '\\' ? 2 : 1;
  if (i >= p->len)
    return fail(p, FARM_ETRUNCATED, p->len, "input ends inside a string");
  size_t end = i;
  unsigned char *out = arena_alloc(p->doc, end - start, 1);
  if (out == NULL)
    return fail_nomem(p);
  size_t n = 0;
  i = start + 1;
  while (i < end) {
    unsigned char c = p->in[i];
    if (c < 0x20)
      return fail(p, FARM_EMALFORMED, i, "control character in a string (escape it)");
    if (c >= 0x80) {
      size_t k = utf8_seq(p->in + i, end - i);
      if (k == 0)
        return fail(p, FARM_EUTF8, i, "invalid UTF-8");
      memcpy(out + n, p->in + i, k);
      n += k;
      i += k;
      continue;
    }
    if (c != '\\') {
      out[n++] = c;
      i++;
      continue;
    }
    /* RFC 8259 §7: the escapes. */
    unsigned char e = p->in[i + 1];
    const char *simple = strchr("\"\\/bfnrt", e);
    if (e != '\0' && simple != NULL) {
      static const char map[] = "\"\\/\b\f\n\r\t";
      out[n++] = (unsigned char)map[simple - "\"\\/bfnrt"];
      i += 2;
      continue;
    }
    if (e != 'u')
      return fail(p, FARM_EMALFORMED, i, "invalid escape");
    uint32_t cp;
    if (end - i < 6 || hex4(p->in + i + 2, &cp) != 0)
      return fail(p, FARM_EMALFORMED, i, "invalid \\u escape (4 hex digits)");
    if (cp >= 0xdc00 && cp <= 0xdfff)
      return fail(p, FARM_EMALFORMED, i, "lone low surrogate");
    if (cp >= 0xd800 && cp <= 0xdbff) {
      /* A high surrogate must be followed by an escaped low one (§7). */
      uint32_t lo;
      if (end - i < 12 || p->in[i + 6] != '\\' || p->in[i + 7] != 'u' ||
          hex4(p->in + i + 8, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
        return fail(p, FARM_EMALFORMED, i, "lone high surrogate");
      cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      i += 6;
    }
    n += put_utf8(out + n, cp);
    i += 6;
  }
  assert(n < end - start);
  out[n] = '\0';
  v->type = JT_STRING;
  v->offset = (uint32_t)start;
  v->len = (uint32_t)n;
  v->u.text = (const char *)out;
  p->pos = end + 1;
  return 0;
}

static bool is_digit(unsigned char c)
{
  return c >= '0' && c <= '9';
}

/* RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int parse_number(struct parser *p, struct json_value *v)
{
  size_t start = p->pos;
  size_t i = start;
  bool integer = true;
  if (p->in[i] == '-')
    i++;
  if (i == p->len)
    return fail(p, FARM_ETRUNCATED, i, "input ends inside a number");
  if (p->in[i] == '0') {
    i++;
    if (i < p->len && is_digit(p->in[i]))
      return fail(p, FARM_EMALFORMED, i, "invalid number (leading zero)");
  } else if (is_digit(p->in[i])) {
    while (i < p->len && is_digit(p->in[i]))
      i++;
  } else {
    return fail(p, FARM_EMALFORMED, i, "invalid number (digit expected)");
  }
  if (i < p->len && p->in[i] == '.') {
    integer = false;
    i++;
    if (i == p->len)
      return fail(p, FARM_ETRUNCATED, i, "input ends inside a number");
    if (!is_digit(p->in[i]))
      return fail(p, FARM_EMALFORMED, i, "invalid number (digit expected after '.')");
    while (i < p->len && is_digit(p->in[i]))
      i++;
  }
  if (i < p->len && (p->in[i] == 'e' || p->in[i] == 'E')) {
    integer = false;
    i++;
    if (i < p->len && (p->in[i] == '+' || p->in[i] == '-'))
      i++;
    if (i == p->len)
      return fail(p, FARM_ETRUNCATED, i, "input ends inside a number");
    if (!is_digit(p->in[i]))
      return fail(p, FARM_EMALFORMED, i, "invalid number (digit expected in exponent)");
    while (i < p->len && is_digit(p->in[i]))
      i++;
  }
  char *text = arena_alloc(p->doc, i - start + 1, 1);
  if (text == NULL)
    return fail_nomem(p);
  memcpy(text, p->in + start, i - start);
  text[i - start] = '\0';
  v->type = JT_NUMBER;
  v->integer = integer;
  v->offset = (uint32_t)start;
  v->len = (uint32_t)(i - start);
  v->u.text = text;
  p->pos = i;
  return 0;
}

static int parse_literal(struct parser *p, struct json_value *v, const char *word,
                         enum json_type type)
{
  size_t n = strlen(word);
  size_t avail = p->len - p->pos;
  size_t cmp = avail < n ? avail : n;
  if (memcmp(p->in + p->pos, word, cmp) != 0)
    return fail(p, FARM_EMALFORMED, p->pos, "invalid literal (true, false or null?)");
  if (avail < n)
    return fail(p, FARM_ETRUNCATED, p->len, "input ends inside a literal");
  v->type = (uint8_t)type;
  v->offset = (uint32_t)p->pos;
  p->pos += n;
  return 0;
}

static int parse_value(struct parser *p, struct json_value *v, unsigned depth);

static int parse_array(struct parser *p, struct json_value *v, unsigned depth)
{
  size_t base = p->stack_len;
  v->type = JT_ARRAY;
  v->offset = (uint32_t)p->pos;
  p->pos++;
  skip_ws(p);
  if (p->pos < p->len && p->in[p->pos] == ']') {
    p->pos++;
    return close_container(p, base, v, depth);
  }
  for (;;) {
    struct json_value item = {0};
    int rc = parse_value(p, &item, depth);
    if (rc == 0)
      rc = push_child(p, &item);
    if (rc != 0)
      return rc;
    v->count++;
    skip_ws(p);
    if (p->pos == p->len)
      return fail(p, FARM_ETRUNCATED, p->pos, "input ends inside an array");
    unsigned char c = p->in[p->pos++];
    if (c == ']')
      return close_container(p, base, v, depth);
    if (c != ',')
      return fail(p, FARM_EMALFORMED, p->pos - 1, "expected ',' or ']' in an array");
  }
}

static int parse_object(struct parser *p, struct json_value *v, unsigned depth)
{
  size_t base = p->stack_len;
  v->type = JT_OBJECT;
  v->offset = (uint32_t)p->pos;
  p->pos++;
  skip_ws(p);
  if (p->pos < p->len && p->in[p->pos] == '}') {
    p->pos++;
    return close_container(p, base, v, depth);
  }
  for (;;) {
    if (p->pos == p->len)
      return fail(p, FARM_ETRUNCATED, p->pos, "input ends inside an object");
    if (p->in[p->pos] != '"')
      return fail(p, FARM_EMALFORMED, p->pos, "expected a string as object key");
    struct json_value key = {0};
    int rc = parse_string(p, &key);
    if (rc == 0)
      rc = push_child(p, &key);
    if (rc != 0)
      return rc;
    skip_ws(p);
    if (p->pos == p->len)
      return fail(p, FARM_ETRUNCATED, p->pos, "input ends inside an object");
    if (p->in[p->pos] != ':')
      return fail(p, FARM_EMALFORMED, p->pos, "expected ':' after an object key");
    p->pos++;
    struct json_value val = {0};
    rc = parse_value(p, &val, depth);
    if (rc == 0)
      rc = push_child(p, &val);
    if (rc != 0)
      return rc;
    v->count++;
    skip_ws(p);
    if (p->pos == p->len)
      return fail(p, FARM_ETRUNCATED, p->pos, "input ends inside an object");
    unsigned char c = p->in[p->pos++];
    if (c == '}')
      return close_container(p, base, v, depth);
    if (c != ',')
      return fail(p, FARM_EMALFORMED, p->pos - 1, "expected ',' or '}' in an object");
    skip_ws(p);
  }
}

/* depth: containers already open around this value. */
static int parse_value(struct parser *p, struct json_value *v, unsigned depth)
{
  skip_ws(p);
  if (p->pos == p->len)
    return fail(p, FARM_ETRUNCATED, p->pos, "input ends where a value was expected");
  unsigned char c = p->in[p->pos];
  switch (c) {
  case '{':
  case '[':
    if (depth >= p->max_depth)
      return fail(p, FARM_EDEPTH, p->pos, "nesting too deep");
    return c == '{' ? parse_object(p, v, depth + 1) : parse_array(p, v, depth + 1);
  case '"':
    return parse_string(p, v);
  case 't':
    return parse_literal(p, v, "true", JT_TRUE);
  case 'f':
    return parse_literal(p, v, "false", JT_FALSE);
  case 'n':
    return parse_literal(p, v, "null", JT_NULL);
  default:
    if (c == '-' || is_digit(c))
      return parse_number(p, v);
    if (c >= 0x80 && utf8_seq(p->in + p->pos, p->len - p->pos) == 0)
      return fail(p, FARM_EUTF8, p->pos, "invalid UTF-8");
    return fail(p, FARM_EMALFORMED, p->pos, "unexpected character where a value was expected");
  }
}

int json_parse(const char *text, size_t len, unsigned max_depth, struct json_doc **out,
               struct json_error *err)
{
  assert(out != NULL && err != NULL && (text != NULL || len == 0));
  *out = NULL;
  err->offset = 0;
  err->msg = NULL;
  struct parser p = {
      .in = (const unsigned char *)text,
      .len = len,
      .max_depth = max_depth,
      .err = err,
  };
  if (len > JSON_MAX_INPUT)
    return fail(&p, FARM_ETOOBIG, 0, "input too large");
  p.doc = calloc(1, sizeof *p.doc);
  if (p.doc == NULL)
    return fail_nomem(&p);
  int rc;
  skip_ws(&p);
  if (p.pos == p.len) {
    rc = fail(&p, FARM_EEMPTY, p.pos, "no JSON value in the input");
    goto fail_doc;
  }
  rc = parse_value(&p, &p.doc->root, 0);
  if (rc != 0)
    goto fail_doc;
  skip_ws(&p);
  if (p.pos != p.len) {
    rc = fail(&p, FARM_ETRAILING, p.pos, "trailing characters after the JSON value");
    goto fail_doc;
  }
  free(p.stack);
  *out = p.doc;
  return 0;

fail_doc:
  free(p.stack);
  json_doc_free(p.doc);
  return rc;
}

const struct json_value *json_doc_root(const struct json_doc *doc)
{
  return &doc->root;
}

void json_doc_free(struct json_doc *doc)
{
  if (doc == NULL)
    return;
  free(doc->root_items);
  struct arena_block *b = doc->blocks;
  while (b != NULL) {
    struct arena_block *next = b->next;
    free(b);
    b = next;
  }
  free(doc);
}

bool json_is_str(const struct json_value *v, const char *s)
{
  size_t n = strlen(s);
  return v->type == JT_STRING && v->len == n && memcmp(v->u.text, s, n) == 0;
}
