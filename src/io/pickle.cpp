// pickle.cpp — the restricted pickle machine (see pickle.h).
//
// A pickle is a program for a stack machine: each opcode pushes a value, pops some into a
// container, or calls a "global" with a tuple of arguments. Python's unpickler imports and
// calls whatever global the program names; this one only knows the handful a torch state
// dict uses, and builds inert records for them instead of calling anything.
// Opcode names and layouts follow CPython's Lib/pickletools.py.
#include "io/pickle.h"

#include <cstring>
#include <unordered_map>

#include "common.h"

namespace t2l::pickle {

const char* kind_name(Kind k) {
    static const char* const names[] = {"none", "bool", "int", "float", "str", "bytes",
                                        "tuple", "list", "dict", "global", "storage", "tensor"};
    return names[(int)k];
}

namespace {

// Bounds against hostile input. A torch state dict makes about 10 objects per tensor and
// keeps its stack shallow (the pickler batches SETITEMS by 1000), so these are generous.
constexpr size_t kMaxObjects = 1 << 20;
constexpr size_t kMaxStack = 1 << 20;
constexpr size_t kMaxMemo = 1 << 20;
constexpr size_t kMaxGlobalName = 256;
constexpr size_t kMaxDims = 8;

// The globals a state dict needs; the Storage classes only appear inside persistent ids.
struct Allowed {
    const char* module;
    const char* name;
    bool storage;
    DType dtype;
};
const Allowed kAllowed[] = {
    {"collections", "OrderedDict", false, DType::F32},
    {"torch._utils", "_rebuild_tensor_v2", false, DType::F32},
    {"torch._utils", "_rebuild_parameter", false, DType::F32},
    {"torch", "FloatStorage", true, DType::F32},
    {"torch", "HalfStorage", true, DType::F16},
    {"torch", "BFloat16Storage", true, DType::BF16},
    {"torch", "DoubleStorage", true, DType::F64},
    {"torch", "LongStorage", true, DType::I64},
    {"torch", "IntStorage", true, DType::I32},
    {"torch", "ShortStorage", true, DType::I16},
    {"torch", "CharStorage", true, DType::I8},
    {"torch", "ByteStorage", true, DType::U8},
    {"torch", "BoolStorage", true, DType::BOOL},
};

enum Op : uint8_t {
    MARK = '(', STOP = '.', POP = '0', BINFLOAT = 'G', BININT = 'J', BININT1 = 'K', BININT2 = 'M',
    NONE = 'N', BINPERSID = 'Q', REDUCE = 'R', BINSTRING = 'T', SHORT_BINSTRING = 'U',
    BINUNICODE = 'X', APPEND = 'a', BUILD = 'b', GLOBAL = 'c', APPENDS = 'e', BINGET = 'h',
    LONG_BINGET = 'j', BINPUT = 'q', LONG_BINPUT = 'r', SETITEM = 's', TUPLE = 't', SETITEMS = 'u',
    EMPTY_DICT = '}', EMPTY_LIST = ']', EMPTY_TUPLE = ')', BINBYTES = 'B', SHORT_BINBYTES = 'C',
    PROTO = 0x80, NEWOBJ = 0x81, TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88,
    NEWFALSE = 0x89, LONG1 = 0x8a, LONG4 = 0x8b, SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d,
    BINBYTES8 = 0x8e, STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95,
};

// Well-formed UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(const uint8_t* s, size_t n) {
    size_t i = 0;
    while (i < n) {
        const uint8_t c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) { i++; continue; }
        else if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; }
        else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; }
        else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; }
        else return false;
        if (n - i < len) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += len;
    }
    return true;
}

struct Machine {
    std::deque<Object>& arena;
    const uint8_t* p;
    size_t n;
    const std::string& source;
    size_t pos = 0;
    size_t op_pos = 0;  // where the current opcode starts, for messages
    std::vector<Object*> stack;
    std::vector<size_t> marks;  // stack heights saved by MARK
    std::unordered_map<uint64_t, Object*> memo;

    Machine(std::deque<Object>& arena_, const uint8_t* data, size_t size, const std::string& source_)
        : arena(arena_), p(data), n(size), source(source_) {}

    [[noreturn]] void bad(const std::string& what) const {
        fail(source, ": malformed pickle at byte ", op_pos, ": ", what);
    }

    // --- reading the byte stream ---
    const uint8_t* take(uint64_t len) {
        if (len > n - pos) bad(cat("needs ", len, " more bytes, only ", n - pos, " left"));
        const uint8_t* r = p + pos;
        pos += (size_t)len;
        return r;
    }
    template <typename T>
    T le() { return load_le<T>(take(sizeof(T))); }
    std::string line() {  // GLOBAL's text arguments end with '\n'
        const void* nl = std::memchr(p + pos, '\n', n - pos);
        if (!nl) bad("GLOBAL name without a newline");
        const size_t len = (size_t)((const uint8_t*)nl - (p + pos));
        if (len > kMaxGlobalName) bad("GLOBAL name longer than 256 bytes");
        std::string s((const char*)take(len), len);
        take(1);
        return s;
    }

    // --- objects and the stack ---
    Object* make(Kind k) {
        if (arena.size() >= kMaxObjects) bad(cat("more than ", kMaxObjects, " objects"));
        arena.emplace_back();
        arena.back().kind = k;
        return &arena.back();
    }
    void push(Object* o) {
        if (stack.size() >= kMaxStack) bad(cat("stack deeper than ", kMaxStack));
        stack.push_back(o);
    }
    // MARK starts a new frame (as in CPython): popping below it is an underflow.
    size_t floor() const { return marks.empty() ? 0 : marks.back(); }
    Object* top(const char* op) {
        if (stack.size() <= floor()) bad(cat(op, " needs a value but the stack is empty"));
        return stack.back();
    }
    Object* pop(const char* op) {
        Object* o = top(op);
        stack.pop_back();
        return o;
    }
    std::vector<Object*> pop_to_mark(const char* op) {
        if (marks.empty()) bad(cat(op, " without a MARK"));
        const size_t m = marks.back();
        marks.pop_back();
        std::vector<Object*> items(stack.begin() + (std::ptrdiff_t)m, stack.end());
        stack.resize(m);
        return items;
    }
    Object* expect(Object* o, Kind k, const char* what) {
        if (o->kind != k) bad(cat(what, " must be a ", kind_name(k), ", got a ", kind_name(o->kind)));
        return o;
    }

    void push_int(int64_t v) { Object* o = make(Kind::Int); o->integer = v; push(o); }
    void push_text(Kind k, uint64_t len) {
        const uint8_t* s = take(len);
        if (k == Kind::Str && !valid_utf8(s, (size_t)len)) bad("string is not valid UTF-8");
        Object* o = make(k);
        o->text.assign((const char*)s, (size_t)len);
        push(o);
    }
    // LONG1/LONG4: little-endian two's complement of any width; we take up to 64 bits.
    void push_long(uint64_t len) {
        if (len > 8) bad(cat("integer of ", len, " bytes does not fit in 64 bits"));
        const uint8_t* b = take(len);
        uint64_t v = 0;
        for (uint64_t i = 0; i < len; i++) v |= (uint64_t)b[i] << (8 * i);
        if (len > 0 && len < 8 && (b[len - 1] & 0x80)) v |= ~0ull << (8 * len);  // sign-extend
        push_int((int64_t)v);
    }
    void memo_put(uint64_t index) {
        Object* o = top("PUT");
        if (memo.size() >= kMaxMemo && !memo.count(index)) bad(cat("memo larger than ", kMaxMemo, " entries"));
        memo[index] = o;
    }
    void memo_get(uint64_t index) {
        auto it = memo.find(index);
        if (it == memo.end()) bad(cat("memo index ", index, " is not defined"));
        push(it->second);
    }

    // --- globals: look up, never import ---
    Object* global(const std::string& module, const std::string& name) {
        for (const Allowed& a : kAllowed) {
            if (module == a.module && name == a.name) {
                Object* g = make(Kind::Global);
                g->text = module + "." + name;
                g->boolean = a.storage;  // true: a torch.<Type>Storage class
                g->dtype = a.dtype;
                return g;
            }
        }
        fail(source, ": pickle asks for global '", module, ".", name, "', which a state dict never needs; refusing");
    }

    // REDUCE / NEWOBJ: "call" a whitelisted global by building the record it would return.
    Object* call(Object* fn, Object* args, const char* op) {
        expect(fn, Kind::Global, cat(op, "'s callable").c_str());
        expect(args, Kind::Tuple, cat(op, "'s arguments").c_str());
        const std::vector<Object*>& a = args->items;
        if (fn->text == "collections.OrderedDict") {
            if (!a.empty()) bad("OrderedDict called with arguments");  // its pickles fill it with SETITEMS
            return make(Kind::Dict);
        }
        if (std::strcmp(op, "REDUCE") != 0) bad(cat(op, " is only expected for OrderedDict, not for '", fn->text, "'"));
        if (fn->text == "torch._utils._rebuild_tensor_v2") return rebuild_tensor(a);
        if (fn->text == "torch._utils._rebuild_parameter") {
            // (data, requires_grad, backward_hooks): a Parameter is its data for our purpose.
            if (a.size() != 3) bad(cat("_rebuild_parameter takes 3 arguments, got ", a.size()));
            expect(a[0], Kind::Tensor, "_rebuild_parameter's data");
            return a[0];
        }
        bad(cat("'", fn->text, "' is not callable here (storage classes only appear in persistent ids)"));
    }

    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    Object* rebuild_tensor(const std::vector<Object*>& a) {
        if (a.size() != 6 && a.size() != 7) bad(cat("_rebuild_tensor_v2 takes 6 or 7 arguments, got ", a.size()));
        Object* t = make(Kind::Tensor);
        t->storage = expect(a[0], Kind::Storage, "tensor storage");
        t->offset = expect(a[1], Kind::Int, "tensor storage offset")->integer;
        const Object* size = expect(a[2], Kind::Tuple, "tensor size");
        const Object* stride = expect(a[3], Kind::Tuple, "tensor stride");
        expect(a[4], Kind::Bool, "tensor requires_grad");
        expect(a[5], Kind::Dict, "tensor backward hooks");
        if (a.size() == 7) expect(a[6], Kind::Dict, "tensor metadata");  // e.g. conjugate/neg bits: not for state dicts
        if (size->items.size() != stride->items.size())
            bad(cat("tensor size has ", size->items.size(), " dims but stride has ", stride->items.size()));
        if (size->items.size() > kMaxDims) bad(cat("tensor with more than ", kMaxDims, " dims"));
        if (t->offset < 0) bad(cat("negative storage offset ", t->offset));
        for (size_t d = 0; d < size->items.size(); d++) {
            const int64_t s = expect(size->items[d], Kind::Int, "tensor size entry")->integer;
            const int64_t st = expect(stride->items[d], Kind::Int, "tensor stride entry")->integer;
            if (s < 0 || st < 0) bad(cat("negative size or stride in dim ", d));
            t->shape.push_back(s);
            t->stride.push_back(st);
        }
        // The last element the view touches must lie inside the storage.
        uint64_t numel = 1, last = (uint64_t)t->offset;
        for (size_t d = 0; d < t->shape.size(); d++) {
            uint64_t step;
            if (!checked_mul(numel, (uint64_t)t->shape[d], &numel)) bad("tensor element count overflows");
            if (t->shape[d] > 0 && (!checked_mul((uint64_t)t->shape[d] - 1, (uint64_t)t->stride[d], &step) ||
                                    !checked_add(last, step, &last)))
                bad("tensor extent overflows");
        }
        if (numel > 0 && last >= (uint64_t)t->storage->numel)
            fail(source, ": tensor view (offset ", t->offset, ", size ", cat_dims(t->shape), ", stride ", cat_dims(t->stride),
                 ") reaches element ", last, " of storage '", t->storage->key, "', which has only ", t->storage->numel);
        return t;
    }
    static std::string cat_dims(const std::vector<int64_t>& v) {
        std::string s = "(";
        for (size_t i = 0; i < v.size(); i++) s += (i ? ", " : "") + std::to_string(v[i]);
        return s + ")";
    }

    // BINPERSID: torch's persistent id ('storage', storage_type, key, location, numel).
    Object* persistent_load(Object* pid) {
        expect(pid, Kind::Tuple, "persistent id");
        const std::vector<Object*>& a = pid->items;
        if (a.size() != 5 || a[0]->kind != Kind::Str || a[0]->text != "storage")
            bad("persistent id is not ('storage', type, key, location, numel)");
        const Object* type = expect(a[1], Kind::Global, "storage type");
        if (!type->boolean) bad(cat("storage type '", type->text, "' is not a storage class"));
        Object* s = make(Kind::Storage);
        s->dtype = type->dtype;
        s->key = expect(a[2], Kind::Str, "storage key")->text;
        expect(a[3], Kind::Str, "storage location");  // "cpu", "cuda:0": we load to the host anyway
        s->numel = expect(a[4], Kind::Int, "storage size")->integer;
        if (s->numel < 0) bad(cat("negative storage size ", s->numel));
        return s;
    }

    const Object* run() {
        while (pos < n) {
            op_pos = pos;
            const uint8_t op = p[pos++];
            switch (op) {
            case PROTO: {
                const uint8_t v = le<uint8_t>();
                if (v < 2 || v > 5) bad(cat("pickle protocol ", (int)v, " (2 to 5 are supported)"));
                break;
            }
            case FRAME: {  // a read-ahead hint: the frame's bytes follow inline
                const uint64_t len = le<uint64_t>();
                if (len > n - pos) bad(cat("frame of ", len, " bytes runs past the end"));
                break;
            }
            case STOP: {
                Object* result = pop("STOP");
                if (pos != n) bad(cat(n - pos, " bytes after STOP"));
                return result;
            }
            case MARK:
                if (marks.size() >= kMaxStack) bad("too many MARKs");
                marks.push_back(stack.size());
                break;
            case POP: pop("POP"); break;

            case NONE: push(make(Kind::None)); break;
            case NEWTRUE:
            case NEWFALSE: { Object* o = make(Kind::Bool); o->boolean = op == NEWTRUE; push(o); break; }
            case BININT: push_int(le<int32_t>()); break;
            case BININT1: push_int(le<uint8_t>()); break;
            case BININT2: push_int(le<uint16_t>()); break;
            case LONG1: push_long(le<uint8_t>()); break;
            case LONG4: {
                const int32_t len = le<int32_t>();
                if (len < 0) bad("negative LONG4 length");
                push_long((uint64_t)len);
                break;
            }
            case BINFLOAT: {  // the one big-endian field in the format
                const uint8_t* b = take(8);
                uint64_t bits = 0;
                for (int i = 0; i < 8; i++) bits = (bits << 8) | b[i];
                Object* o = make(Kind::Float);
                std::memcpy(&o->number, &bits, 8);
                push(o);
                break;
            }
            case SHORT_BINUNICODE: push_text(Kind::Str, le<uint8_t>()); break;
            case BINUNICODE: push_text(Kind::Str, le<uint32_t>()); break;
            case BINUNICODE8: push_text(Kind::Str, le<uint64_t>()); break;
            case SHORT_BINSTRING: push_text(Kind::Str, le<uint8_t>()); break;  // Python 2 str, read as text
            case BINSTRING: {
                const int32_t len = le<int32_t>();
                if (len < 0) bad("negative BINSTRING length");
                push_text(Kind::Str, (uint64_t)len);
                break;
            }
            case SHORT_BINBYTES: push_text(Kind::Bytes, le<uint8_t>()); break;
            case BINBYTES: push_text(Kind::Bytes, le<uint32_t>()); break;
            case BINBYTES8: push_text(Kind::Bytes, le<uint64_t>()); break;

            case EMPTY_TUPLE: push(make(Kind::Tuple)); break;
            case EMPTY_LIST: push(make(Kind::List)); break;
            case EMPTY_DICT: push(make(Kind::Dict)); break;
            case TUPLE: { Object* t = make(Kind::Tuple); t->items = pop_to_mark("TUPLE"); push(t); break; }
            case TUPLE1:
            case TUPLE2:
            case TUPLE3: {
                const size_t k = (size_t)(op - TUPLE1 + 1);
                Object* t = make(Kind::Tuple);
                t->items.resize(k);
                for (size_t i = k; i-- > 0;) t->items[i] = pop("TUPLE1/2/3");
                push(t);
                break;
            }
            case APPEND: {
                Object* v = pop("APPEND");
                expect(top("APPEND"), Kind::List, "APPEND's target")->items.push_back(v);
                break;
            }
            case APPENDS: {
                std::vector<Object*> vs = pop_to_mark("APPENDS");
                Object* list = expect(top("APPENDS"), Kind::List, "APPENDS's target");
                list->items.insert(list->items.end(), vs.begin(), vs.end());
                break;
            }
            case SETITEM: {
                Object* v = pop("SETITEM");
                Object* k = pop("SETITEM");
                Object* d = expect(top("SETITEM"), Kind::Dict, "SETITEM's target");
                d->items.push_back(k);
                d->items.push_back(v);
                break;
            }
            case SETITEMS: {
                std::vector<Object*> kv = pop_to_mark("SETITEMS");
                if (kv.size() % 2) bad("SETITEMS with an odd number of items");
                Object* d = expect(top("SETITEMS"), Kind::Dict, "SETITEMS's target");
                d->items.insert(d->items.end(), kv.begin(), kv.end());
                break;
            }

            case BINPUT: memo_put(le<uint8_t>()); break;
            case LONG_BINPUT: memo_put(le<uint32_t>()); break;
            case MEMOIZE: memo_put(memo.size()); break;
            case BINGET: memo_get(le<uint8_t>()); break;
            case LONG_BINGET: memo_get(le<uint32_t>()); break;

            case GLOBAL: {
                const std::string module = line();
                const std::string name = line();
                push(global(module, name));
                break;
            }
            case STACK_GLOBAL: {
                const Object* name = expect(pop("STACK_GLOBAL"), Kind::Str, "STACK_GLOBAL's name");
                const Object* module = expect(pop("STACK_GLOBAL"), Kind::Str, "STACK_GLOBAL's module");
                push(global(module->text, name->text));
                break;
            }
            case REDUCE: {
                Object* args = pop("REDUCE");
                Object* fn = pop("REDUCE");
                push(call(fn, args, "REDUCE"));
                break;
            }
            case NEWOBJ: {
                Object* args = pop("NEWOBJ");
                Object* cls = pop("NEWOBJ");
                push(call(cls, args, "NEWOBJ"));
                break;
            }
            case BUILD: {
                // OrderedDict carries its instance attributes here: a state dict's `_metadata`
                // (per-module version numbers for load_state_dict), which holds no weights.
                Object* state = pop("BUILD");
                Object* target = top("BUILD");
                if (target->kind != Kind::Dict || (state->kind != Kind::Dict && state->kind != Kind::None))
                    bad(cat("BUILD of a ", kind_name(target->kind), " with a ", kind_name(state->kind), " state"));
                break;
            }
            case BINPERSID: push(persistent_load(pop("BINPERSID"))); break;

            default:
                if (op >= 0x20 && op < 0x7f) bad(cat("unsupported opcode 0x", std::hex, (int)op, " ('", (char)op, "')"));
                bad(cat("unsupported opcode 0x", std::hex, (int)op));
            }
        }
        op_pos = n;
        bad("the pickle ends without STOP");
    }
};

}  // namespace

Unpickled::Unpickled(const uint8_t* data, size_t size, const std::string& source) {
    Machine m(arena_, data, size, source);
    root_ = m.run();
}

}  // namespace t2l::pickle
