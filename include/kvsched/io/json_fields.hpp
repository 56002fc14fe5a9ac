// kvsched/io/json_fields.hpp: strict JSON <-> struct mapping through a small reflection table
// (nlohmann-json). A struct lists its fields once, in JsonFields<T>::visit; the same list
// writes every field, reads the keys present (absent keys keep their value) and rejects
// unknown keys and wrong types with an error naming the key path ("chunker.budget").
#pragma once
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace kvsched::io {

/// A config value that does not fit its field. what() reads "KEY: MESSAGE"; key() is the
/// dotted path from the root object ("estimator.padding.p_hi"), empty for the root itself.
class JsonFieldError : public std::invalid_argument {
 public:
  JsonFieldError(std::string key, const std::string& message)
      : std::invalid_argument((key.empty() ? std::string("(top level)") : key) + ": " + message),
        key_(std::move(key)), message_(message) {}
  [[nodiscard]] const std::string& key() const { return key_; }
  /// The message without the key.
  [[nodiscard]] const std::string& message() const { return message_; }

 private:
  std::string key_;
  std::string message_;
};

/// Reflection table of struct T: specialise with
///   template <class Self, class F> static void visit(Self& s, F&& f) { f("name", s.member); ... }
/// (Self = T or const T). Every field type must be readable by read_json_value.
template <class T>
struct JsonFields;

/// Names of enum E's values: specialise with `static constexpr std::array<std::pair<E, const
/// char*>, N> names{...}`. Enums are written and read as these strings.
template <class E>
struct JsonEnumNames;

template <class T>
concept HasJsonFields = requires(T& t) { JsonFields<T>::visit(t, [](const char*, auto&) {}); };
template <class E>
concept HasJsonEnumNames = std::is_enum_v<E> && requires { JsonEnumNames<E>::names; };

/// "a.b" from path "a" and key "b".
[[nodiscard]] inline std::string json_key_path(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

template <class T>
[[nodiscard]] nlohmann::json write_json_value(const T& v);

/// Every field of `t` as a JSON object.
template <HasJsonFields T>
[[nodiscard]] nlohmann::json write_json_fields(const T& t) {
  nlohmann::json j = nlohmann::json::object();
  JsonFields<T>::visit(t, [&](const char* name, const auto& v) { j[name] = write_json_value(v); });
  return j;
}

/// JSON of one field value: string, bool, number, enum name, optional (null when empty),
/// vector (a list), nlohmann::json (as it is), or a nested object of fields.
template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};

template <class T>
[[nodiscard]] nlohmann::json write_json_value(const T& v) {
  if constexpr (std::is_same_v<T, nlohmann::json> || std::is_same_v<T, std::string>) {
    return v;
  } else if constexpr (IsOptional<T>::value) {
    return v ? write_json_value(*v) : nlohmann::json(nullptr);
  } else if constexpr (IsVector<T>::value) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& x : v) a.push_back(write_json_value(x));
    return a;
  } else if constexpr (HasJsonFields<T>) {
    return write_json_fields(v);
  } else if constexpr (HasJsonEnumNames<T>) {
    for (const auto& [e, n] : JsonEnumNames<T>::names)
      if (e == v) return n;
    return static_cast<std::int64_t>(v);
  } else {
    static_assert(std::is_arithmetic_v<T>, "field type without a JSON mapping");
    return v;
  }
}

template <class T>
void read_json_value(const nlohmann::json& j, T& v, const std::string& path);

/// Checks that `j` is an object whose keys are all in `names` (callable with a visitor
/// f(const char*)); throws JsonFieldError naming the first unknown key and listing the known ones.
template <class Names>
void check_json_keys(const nlohmann::json& j, const std::string& path, Names&& names) {
  if (!j.is_object()) throw JsonFieldError(path, std::string("expected an object, got ") + j.type_name());
  for (const auto& item : j.items()) {
    bool known = false;
    names([&](const char* n) { known = known || item.key() == n; });
    if (!known) {
      std::string list;
      names([&](const char* n) { list += (list.empty() ? "" : ", ") + std::string(n); });
      throw JsonFieldError(json_key_path(path, item.key()), "unknown key (known: " + (list.empty() ? "none" : list) + ")");
    }
  }
}

/// Overlays the keys of object `j` on the fields of `t`. Errors: JsonFieldError for a
/// non-object, an unknown key or a value of the wrong type or range.
template <HasJsonFields T>
void read_json_fields(const nlohmann::json& j, T& t, const std::string& path) {
  check_json_keys(j, path, [&](auto&& f) { JsonFields<T>::visit(t, [&](const char* n, auto&) { f(n); }); });
  JsonFields<T>::visit(t, [&](const char* name, auto& v) {
    if (const auto it = j.find(name); it != j.end()) read_json_value(*it, v, json_key_path(path, name));
  });
}

/// Reads one field value, strictly: a string must be a JSON string, an optional null or its
/// value, a vector a list, a nlohmann::json anything; a bool must be a JSON boolean, an integer a JSON integer
/// within the field's range, a floating-point field any finite number, an enum one of its
/// names, a struct an object of its fields.
template <class T>
void read_json_value(const nlohmann::json& j, T& v, const std::string& path) {
  if constexpr (std::is_same_v<T, nlohmann::json>) {
    v = j;
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!j.is_string()) throw JsonFieldError(path, "expected a string, got " + j.dump());
    v = j.get<std::string>();
  } else if constexpr (IsOptional<T>::value) {
    if (j.is_null()) {
      v.reset();
    } else {
      typename T::value_type x{};
      read_json_value(j, x, path);
      v = std::move(x);
    }
  } else if constexpr (IsVector<T>::value) {
    if (!j.is_array()) throw JsonFieldError(path, std::string("expected a list, got ") + j.type_name());
    T out;
    for (std::size_t i = 0; i < j.size(); ++i) {
      typename T::value_type x{};
      read_json_value(j[i], x, path + "[" + std::to_string(i) + "]");
      out.push_back(std::move(x));
    }
    v = std::move(out);
  } else if constexpr (HasJsonFields<T>) {
    read_json_fields(j, v, path);
  } else if constexpr (HasJsonEnumNames<T>) {
    std::string list;
    if (j.is_string()) {
      for (const auto& [e, n] : JsonEnumNames<T>::names) {
        if (j.get<std::string>() == n) {
          v = e;
          return;
        }
      }
    }
    for (const auto& [e, n] : JsonEnumNames<T>::names) list += (list.empty() ? "\"" : ", \"") + std::string(n) + "\"";
    throw JsonFieldError(path, "expected one of " + list + ", got " + j.dump());
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!j.is_boolean()) throw JsonFieldError(path, "expected true or false, got " + j.dump());
    v = j.get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    if (!j.is_number_integer()) throw JsonFieldError(path, "expected an integer, got " + j.dump());
    const bool fits = j.is_number_unsigned()
                          ? j.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<T>::max())
                          : (j.get<std::int64_t>() >= static_cast<std::int64_t>(std::numeric_limits<T>::min()) &&
                             (j.get<std::int64_t>() < 0 ||
                              static_cast<std::uint64_t>(j.get<std::int64_t>()) <=
                                  static_cast<std::uint64_t>(std::numeric_limits<T>::max())));
    if (!fits) {
      throw JsonFieldError(path, "integer out of range [" + std::to_string(std::numeric_limits<T>::min()) + ", " +
                                     std::to_string(std::numeric_limits<T>::max()) + "], got " + j.dump());
    }
    v = j.get<T>();
  } else {
    static_assert(std::is_floating_point_v<T>, "field type without a JSON mapping");
    if (!j.is_number() || !std::isfinite(j.get<double>())) {
      throw JsonFieldError(path, "expected a finite number, got " + j.dump());
    }
    v = j.get<T>();
  }
}

}  // namespace kvsched::io
