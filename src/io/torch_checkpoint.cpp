#include "structseq/io/torch_checkpoint.h"

#include "structseq/core/error.h"
#include "structseq/core/float16.h"
#include "structseq/io/zip_archive.h"

#include <cstring>
#include <map>
#include <memory>
#include <string_view>

namespace structseq::io {

namespace {

struct Value;
struct StorageType;
using ValuePtr = std::shared_ptr<Value>;

// What the restricted unpickler can hold on its stack.
struct Value {
    enum class Kind {
        None,
        Bool,
        Int,
        Float,
        String,
        Tuple,
        List,
        Dict,
        Global,
        Storage,
        Tensor,
        Mark
    };
    Kind kind = Kind::None;
    std::int64_t integer = 0;
    double real = 0;
    std::string text;                                // String; Global "module name"; Storage key
    std::vector<ValuePtr> items;                     // Tuple, List
    std::vector<std::pair<ValuePtr, ValuePtr>> map;  // Dict, in insertion order
    const StorageType* storage = nullptr;            // Storage: its class
    Tensor tensor;                                   // Tensor
};

ValuePtr make(Value::Kind kind) {
    auto v = std::make_shared<Value>();
    v->kind = kind;
    return v;
}

// A storage class the files may name: its element size, the dtype it loads as, and the
// widening from 16-bit floats when there is one.
enum class Widen { None, Half, BFloat16 };
struct StorageType {
    const char* name;
    std::size_t element_size;
    DType dtype;
    Widen widen;
};
constexpr StorageType kStorageTypes[] = {
    {"FloatStorage", 4, DType::F32, Widen::None},
    {"DoubleStorage", 8, DType::F64, Widen::None},
    {"HalfStorage", 2, DType::F32, Widen::Half},
    {"BFloat16Storage", 2, DType::F32, Widen::BFloat16},
    {"LongStorage", 8, DType::I64, Widen::None},
    {"IntStorage", 4, DType::I32, Widen::None},
};

const StorageType* storage_type(std::string_view name) {
    for (const StorageType& t : kStorageTypes) {
        if (name == t.name) return &t;
    }
    return nullptr;
}

bool allowed_global(std::string_view module, std::string_view name) {
    if (module == "collections" && name == "OrderedDict") return true;
    if (module == "torch._utils" &&
        (name == "_rebuild_tensor_v2" || name == "_rebuild_parameter")) {
        return true;
    }
    return module == "torch" && storage_type(name) != nullptr;
}

class Unpickler {
public:
    Unpickler(const ZipArchive& zip, std::string prefix, std::string_view pickle)
        : zip_(zip), prefix_(std::move(prefix)), p_(pickle) {}

    ValuePtr run() {
        while (true) {
            const auto op = static_cast<unsigned char>(byte());
            switch (op) {
                case 0x80:
                    byte();
                    break;  // PROTO
                case 0x95:
                    take(8);
                    break;  // FRAME
                case '(':
                    push(make(Value::Kind::Mark));
                    break;
                case '.':
                    return pop();  // STOP
                case 'N':
                    push(make(Value::Kind::None));
                    break;
                case 0x88:
                case 0x89: {  // NEWTRUE, NEWFALSE
                    auto v = make(Value::Kind::Bool);
                    v->integer = op == 0x88;
                    push(v);
                    break;
                }
                case 'K':
                    push_int(static_cast<unsigned char>(byte()));
                    break;
                case 'M':
                    push_int(unsigned_le(2));
                    break;
                case 'J':
                    push_int(static_cast<std::int32_t>(unsigned_le(4)));
                    break;
                case 0x8a:
                    push_long(static_cast<unsigned char>(byte()));
                    break;   // LONG1
                case 'G': {  // BINFLOAT
                    const std::string_view b = take(8);
                    std::uint64_t bits = 0;
                    for (char c : b) bits = bits << 8 | static_cast<unsigned char>(c);
                    auto v = make(Value::Kind::Float);
                    std::memcpy(&v->real, &bits, 8);
                    push(v);
                    break;
                }
                case 'X':
                    push_string(take(unsigned_le(4)));
                    break;  // BINUNICODE
                case 0x8c:
                    push_string(take(static_cast<unsigned char>(byte())));
                    break;  // SHORT_
                case 0x8d:
                    push_string(take(unsigned_le(8)));
                    break;   // BINUNICODE8
                case 'c': {  // GLOBAL
                    const std::string module = line(), name = line();
                    push_global(module, name);
                    break;
                }
                case 0x93: {  // STACK_GLOBAL
                    const ValuePtr name = pop(), module = pop();
                    if (module->kind != Value::Kind::String || name->kind != Value::Kind::String) {
                        bad("STACK_GLOBAL without two strings");
                    }
                    push_global(module->text, name->text);
                    break;
                }
                case 'q':
                    memo(static_cast<unsigned char>(byte()));
                    break;  // BINPUT
                case 'r':
                    memo(unsigned_le(4));
                    break;  // LONG_BINPUT
                case 0x94:
                    memo(memo_.size());
                    break;  // MEMOIZE
                case 'h':
                    push(recall(static_cast<unsigned char>(byte())));
                    break;
                case 'j':
                    push(recall(unsigned_le(4)));
                    break;
                case ')':
                    push(make(Value::Kind::Tuple));
                    break;
                case ']':
                    push(make(Value::Kind::List));
                    break;
                case '}':
                    push(make(Value::Kind::Dict));
                    break;
                case 't': {
                    auto v = make(Value::Kind::Tuple);
                    v->items = pop_to_mark();
                    push(v);
                    break;
                }
                case 0x85:
                case 0x86:
                case 0x87: {  // TUPLE1..3
                    auto v = make(Value::Kind::Tuple);
                    v->items.resize(op - 0x84);
                    for (auto it = v->items.rbegin(); it != v->items.rend(); ++it) *it = pop();
                    push(v);
                    break;
                }
                case 'a': {  // APPEND
                    const ValuePtr item = pop();
                    container(Value::Kind::List)->items.push_back(item);
                    break;
                }
                case 'e': {  // APPENDS
                    std::vector<ValuePtr> items = pop_to_mark();
                    ValuePtr list = container(Value::Kind::List);
                    list->items.insert(list->items.end(), items.begin(), items.end());
                    break;
                }
                case 's': {  // SETITEM
                    const ValuePtr value = pop(), key = pop();
                    container(Value::Kind::Dict)->map.emplace_back(key, value);
                    break;
                }
                case 'u': {  // SETITEMS
                    std::vector<ValuePtr> items = pop_to_mark();
                    if (items.size() % 2 != 0) bad("SETITEMS with an odd number of items");
                    ValuePtr dict = container(Value::Kind::Dict);
                    for (std::size_t k = 0; k < items.size(); k += 2) {
                        dict->map.emplace_back(items[k], items[k + 1]);
                    }
                    break;
                }
                case 'Q':
                    push(persistent_load(pop()));
                    break;   // BINPERSID
                case 'R': {  // REDUCE
                    const ValuePtr args = pop(), callable = pop();
                    push(reduce(callable, args));
                    break;
                }
                default:
                    bad(
                        fmt::format("opcode 0x{:02x} at byte {}, which plain tensor dicts do not "
                                    "use",
                                    op, position_ - 1));
            }
        }
    }

private:
    [[noreturn]] void bad(const std::string& what) const {
        fail(
            "{}: refused: {} (only tensor-rebuild calls and plain containers are accepted; the "
            "file may be malicious)",
            zip_.source(), what);
    }

    char byte() { return take(1)[0]; }
    std::string_view take(std::uint64_t n) {
        if (n > p_.size() - position_) bad("the pickle ends early");
        const std::string_view out = p_.substr(position_, n);
        position_ += n;
        return out;
    }
    std::uint64_t unsigned_le(int n) {
        const std::string_view b = take(n);
        std::uint64_t v = 0;
        for (int k = n - 1; k >= 0; --k) v = v << 8 | static_cast<unsigned char>(b[k]);
        return v;
    }
    std::string line() {
        const std::size_t end = p_.find('\n', position_);
        if (end == std::string_view::npos) bad("GLOBAL without a newline");
        std::string out(p_.substr(position_, end - position_));
        position_ = end + 1;
        return out;
    }

    void push(ValuePtr v) {
        if (stack_.size() > (1u << 20)) bad("a stack deeper than 2^20");
        stack_.push_back(std::move(v));
    }
    ValuePtr pop() {
        if (stack_.empty() || stack_.back()->kind == Value::Kind::Mark) bad("stack underflow");
        ValuePtr v = std::move(stack_.back());
        stack_.pop_back();
        return v;
    }
    std::vector<ValuePtr> pop_to_mark() {
        std::vector<ValuePtr> items;
        while (!stack_.empty() && stack_.back()->kind != Value::Kind::Mark) {
            items.push_back(std::move(stack_.back()));
            stack_.pop_back();
        }
        if (stack_.empty()) bad("no MARK");
        stack_.pop_back();
        return {items.rbegin(), items.rend()};
    }
    ValuePtr container(Value::Kind kind) {
        if (stack_.empty() || stack_.back()->kind != kind) bad("an item added to a non-container");
        return stack_.back();
    }
    void push_int(std::int64_t i) {
        auto v = make(Value::Kind::Int);
        v->integer = i;
        push(v);
    }
    void push_long(std::size_t n) {
        if (n > 8) bad("an integer wider than 64 bits");
        const std::string_view b = take(n);
        std::int64_t v = 0;
        for (std::size_t k = n; k-- > 0;)
            v = static_cast<std::int64_t>(static_cast<std::uint64_t>(v) << 8 |
                                          static_cast<unsigned char>(b[k]));
        if (n > 0 && n < 8 && (static_cast<unsigned char>(b[n - 1]) & 0x80)) {
            v -= static_cast<std::int64_t>(1) << (8 * n);  // two's complement of n bytes
        }
        push_int(v);
    }
    void push_string(std::string_view s) {
        auto v = make(Value::Kind::String);
        v->text = std::string(s);
        push(v);
    }
    void push_global(const std::string& module, const std::string& name) {
        if (!allowed_global(module, name)) bad("global " + module + "." + name);
        auto v = make(Value::Kind::Global);
        v->text = module + " " + name;
        push(v);
    }
    void memo(std::uint64_t index) {
        if (stack_.empty()) bad("memoizing an empty stack");
        if (index > (1u << 24)) bad("a memo index above 2^24");
        memo_[index] = stack_.back();
    }
    ValuePtr recall(std::uint64_t index) {
        const auto it = memo_.find(index);
        if (it == memo_.end()) bad(fmt::format("memo entry {} read before it was written", index));
        return it->second;
    }

    // ('storage', torch.<T>Storage, key, location, numel) → the storage member data/<key>.
    ValuePtr persistent_load(const ValuePtr& pid) {
        if (pid->kind != Value::Kind::Tuple || pid->items.size() != 5 ||
            pid->items[0]->kind != Value::Kind::String || pid->items[0]->text != "storage" ||
            pid->items[1]->kind != Value::Kind::Global ||
            pid->items[2]->kind != Value::Kind::String) {
            bad("a persistent id other than ('storage', type, key, location, numel)");
        }
        auto v = make(Value::Kind::Storage);
        const std::string type = pid->items[1]->text.substr(pid->items[1]->text.find(' ') + 1);
        v->storage = storage_type(type);
        if (v->storage == nullptr) bad("storage type " + type);
        v->text = pid->items[2]->text;
        return v;
    }

    ValuePtr reduce(const ValuePtr& callable, const ValuePtr& args) {
        if (callable->kind != Value::Kind::Global || args->kind != Value::Kind::Tuple) {
            bad("REDUCE of something that is not an allowed global");
        }
        if (callable->text == "collections OrderedDict") {
            if (!args->items.empty()) bad("OrderedDict with arguments");
            return make(Value::Kind::Dict);
        }
        if (callable->text == "torch._utils _rebuild_parameter") {
            if (args->items.empty() || args->items[0]->kind != Value::Kind::Tensor) {
                bad("_rebuild_parameter without a tensor");
            }
            return args->items[0];
        }
        if (callable->text == "torch._utils _rebuild_tensor_v2") return rebuild_tensor(args->items);
        bad("a call to " + callable->text);
    }

    static std::vector<std::int64_t> integers(const ValuePtr& v) {
        std::vector<std::int64_t> out;
        if (v->kind != Value::Kind::Tuple) return {-1};
        for (const ValuePtr& item : v->items)
            out.push_back(item->kind == Value::Kind::Int ? item->integer : -1);
        return out;
    }

    // (storage, offset, size, stride, requires_grad, hooks[, metadata]) → a contiguous copy.
    ValuePtr rebuild_tensor(const std::vector<ValuePtr>& a) {
        if (a.size() < 4 || a[0]->kind != Value::Kind::Storage || a[1]->kind != Value::Kind::Int) {
            bad("_rebuild_tensor_v2 arguments");
        }
        const std::vector<std::int64_t> size = integers(a[2]), stride = integers(a[3]);
        if (size.size() != stride.size()) bad("tensor sizes and strides of different lengths");
        const StorageType& type = *a[0]->storage;
        const std::string_view bytes = zip_.read(prefix_ + "data/" + a[0]->text);
        const std::int64_t numel_storage =
            static_cast<std::int64_t>(bytes.size() / type.element_size);
        const std::int64_t offset = a[1]->integer;
        std::int64_t last = offset, count = 1, contiguous_stride = 1;
        bool contiguous = true;
        for (std::size_t k = size.size(); k-- > 0;) {
            if (size[k] < 0 || stride[k] < 0) bad("a negative tensor size or stride");
            if (size[k] > 0) last += (size[k] - 1) * stride[k];
            contiguous &= size[k] == 1 || stride[k] == contiguous_stride;
            contiguous_stride *= size[k];
            count *= size[k];
        }
        if (offset < 0 || (count > 0 && last >= numel_storage)) {
            bad(fmt::format("a tensor reaching element {} of a storage of {}", last,
                            numel_storage));
        }
        Tensor t = Tensor::empty(Shape(size.begin(), size.end()), type.dtype);
        const auto* base = reinterpret_cast<const unsigned char*>(bytes.data());
        auto* out = static_cast<unsigned char*>(t.raw_data());
        if (contiguous && type.widen == Widen::None) {
            std::memcpy(out, base + offset * type.element_size, count * type.element_size);
        } else {
            std::vector<std::int64_t> index(size.size(), 0);
            for (std::int64_t k = 0; k < count; ++k) {
                std::int64_t element = offset;
                for (std::size_t d = 0; d < size.size(); ++d) element += index[d] * stride[d];
                const unsigned char* src = base + element * type.element_size;
                if (type.widen == Widen::None) {
                    std::memcpy(out + k * type.element_size, src, type.element_size);
                } else {
                    std::uint16_t bits;
                    std::memcpy(&bits, src, 2);
                    const float f = type.widen == Widen::Half ? float16_to_float(bits)
                                                              : bfloat16_to_float(bits);
                    std::memcpy(out + k * 4, &f, 4);
                }
                for (std::size_t d = size.size(); d-- > 0;) {
                    if (++index[d] < size[d]) break;
                    index[d] = 0;
                }
            }
        }
        auto v = make(Value::Kind::Tensor);
        v->tensor = std::move(t);
        return v;
    }

    const ZipArchive& zip_;
    std::string prefix_;
    std::string_view p_;
    std::size_t position_ = 0;
    std::vector<ValuePtr> stack_;
    std::map<std::uint64_t, ValuePtr> memo_;
};

}  // namespace

std::vector<std::pair<std::string, Tensor>> load_torch_checkpoint(const std::string& path) {
    const ZipArchive zip = ZipArchive::open(path);
    const ZipMember* pickle = nullptr;
    for (const ZipMember& m : zip.members()) {
        const std::string_view name = m.name;
        if (name.size() >= 8 && name.substr(name.size() - 8) == "data.pkl" &&
            name.find('/') == name.size() - 9) {
            pickle = &m;
        }
    }
    if (pickle == nullptr) fail("{}: not a torch.save archive (no <name>/data.pkl)", path);
    const std::string prefix = pickle->name.substr(0, pickle->name.size() - 8);
    Unpickler unpickler(zip, prefix, zip.read(pickle->name));
    const ValuePtr top = unpickler.run();
    if (top->kind != Value::Kind::Dict)
        fail("{}: the pickled object is not a dict of tensors", path);
    std::vector<std::pair<std::string, Tensor>> out;
    for (const auto& [key, value] : top->map) {
        if (key->kind != Value::Kind::String || value->kind != Value::Kind::Tensor) {
            fail("{}: entry {} is not a named tensor", path,
                 key->kind == Value::Kind::String ? key->text : "with a non-string key");
        }
        out.emplace_back(key->text, value->tensor);
    }
    return out;
}

}  // namespace structseq::io
