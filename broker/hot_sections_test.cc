// The broker is linked with hot_sections.ld: each function the script names
// by its section, and that the broker has, lies in .text.hot at the front of
// the code; .text.hot is in the executable segment and .rodata.hot in a
// read-only one that is not (the script aligns it onto a page of its own).
// Sanitizer builds link without the script.
//
// Arguments: the broker, the script, then "ordered" or "sanitized".

#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

const char* broker_path = nullptr;
const char* script_path = nullptr;
bool sanitized = false;

std::string ReadWhole(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Section {
  std::string name;
  uint64_t address = 0;
  uint64_t size = 0;
};

struct Elf {
  std::string bytes;
  std::vector<Section> sections;
  std::vector<Elf64_Phdr> segments;
  std::vector<std::pair<std::string, uint64_t>> functions;  // from .symtab

  template <typename T>
  const T* At(uint64_t offset) const {
    if (offset + sizeof(T) > bytes.size()) return nullptr;
    return reinterpret_cast<const T*>(bytes.data() + offset);
  }

  std::optional<Section> Find(const std::string& name) const {
    for (const Section& section : sections) {
      if (section.name == name) return section;
    }
    return std::nullopt;
  }

  // The flags of the loaded segment that holds `address`.
  std::optional<uint32_t> SegmentFlags(uint64_t address) const {
    for (const Elf64_Phdr& segment : segments) {
      if (segment.p_type == PT_LOAD && address >= segment.p_vaddr &&
          address < segment.p_vaddr + segment.p_memsz) {
        return segment.p_flags;
      }
    }
    return std::nullopt;
  }
};

Elf Parse(const char* path) {
  Elf elf;
  elf.bytes = ReadWhole(path);
  const auto* header = elf.At<Elf64_Ehdr>(0);
  if (header == nullptr || std::memcmp(header->e_ident, ELFMAG, SELFMAG) != 0) return elf;
  for (int i = 0; i < header->e_phnum; ++i) {
    if (const auto* segment = elf.At<Elf64_Phdr>(header->e_phoff + i * sizeof(Elf64_Phdr))) {
      elf.segments.push_back(*segment);
    }
  }
  std::vector<Elf64_Shdr> headers;
  for (int i = 0; i < header->e_shnum; ++i) {
    if (const auto* section = elf.At<Elf64_Shdr>(header->e_shoff + i * sizeof(Elf64_Shdr))) {
      headers.push_back(*section);
    }
  }
  auto string_at = [&](const Elf64_Shdr& table, uint32_t offset) {
    uint64_t at = table.sh_offset + offset;
    return at < elf.bytes.size() ? std::string(elf.bytes.c_str() + at) : std::string();
  };
  if (header->e_shstrndx >= headers.size()) return elf;
  const Elf64_Shdr& names = headers[header->e_shstrndx];
  for (const Elf64_Shdr& section : headers) {
    elf.sections.push_back({string_at(names, section.sh_name), section.sh_addr, section.sh_size});
    if (section.sh_type != SHT_SYMTAB || section.sh_link >= headers.size()) continue;
    for (uint64_t at = section.sh_offset;
         at + sizeof(Elf64_Sym) <= section.sh_offset + section.sh_size; at += sizeof(Elf64_Sym)) {
      const auto* symbol = elf.At<Elf64_Sym>(at);
      if (symbol != nullptr && ELF64_ST_TYPE(symbol->st_info) == STT_FUNC &&
          symbol->st_shndx != SHN_UNDEF) {
        elf.functions.emplace_back(string_at(headers[section.sh_link], symbol->st_name),
                                   symbol->st_value);
      }
    }
  }
  return elf;
}

// The functions the script places by name: `*(.text.NAME)`, and main's
// `*(.text.startup.main)`. Cold parts (.text.unlikely.*) are not functions.
std::set<std::string> NamedFunctions(const std::string& script) {
  std::set<std::string> names;
  static const std::regex kPattern(R"(^\s*\*\(\.text\.(startup\.)?([^)]+)\)\s*$)");
  std::istringstream lines(script);
  for (std::string line; std::getline(lines, line);) {
    std::smatch match;
    if (std::regex_match(line, match, kPattern) && match[2].str().rfind("unlikely.", 0) != 0) {
      names.insert(match[2].str());
    }
  }
  return names;
}

class HotSectionsTest : public testing::Test {
 protected:
  void SetUp() override {
    if (sanitized) GTEST_SKIP() << "sanitizer builds link without hot_sections.ld";
    elf_ = Parse(broker_path);
    ASSERT_FALSE(elf_.sections.empty()) << broker_path << " is not an ELF file";
    ASSERT_FALSE(elf_.functions.empty()) << broker_path << " has no symbol table";
  }
  Elf elf_;
};

TEST_F(HotSectionsTest, FunctionsTheScriptNamesLieInTextHot) {
  std::optional<Section> hot = elf_.Find(".text.hot");
  ASSERT_TRUE(hot.has_value()) << "the broker was linked without " << script_path;
  std::set<std::string> named = NamedFunctions(ReadWhole(script_path));
  ASSERT_GE(named.size(), 100u) << script_path << " names too few functions: regenerate it";
  ASSERT_TRUE(named.count("main"));
  // A local name (an .isra clone, say) may be defined in more than one
  // object, one of them an archive member without sections of its own: the
  // name is placed where one definition of it is in .text.hot.
  std::set<std::string> inside, seen;
  for (const auto& [name, address] : elf_.functions) {
    if (!named.count(name)) continue;
    seen.insert(name);
    if (address >= hot->address && address < hot->address + hot->size) inside.insert(name);
  }
  int found = static_cast<int>(seen.size());
  std::vector<std::string> outside;
  for (const std::string& name : seen) {
    if (!inside.count(name)) outside.push_back(name);
  }
  // Builds other than the one profiled inline differently; most names stay.
  EXPECT_GE(found, 50) << "of the " << named.size() << " functions the script names";
  EXPECT_TRUE(outside.empty()) << outside.size() << " named functions outside .text.hot, first "
                               << outside.front();
}

TEST_F(HotSectionsTest, HotCodeIsExecutableAndHotConstantsAreNot) {
  std::optional<Section> text = elf_.Find(".text.hot");
  std::optional<Section> rodata = elf_.Find(".rodata.hot");
  ASSERT_TRUE(text.has_value() && rodata.has_value());
  ASSERT_GT(rodata->size, 0u);
  std::optional<uint32_t> text_flags = elf_.SegmentFlags(text->address);
  std::optional<uint32_t> rodata_flags = elf_.SegmentFlags(rodata->address);
  ASSERT_TRUE(text_flags.has_value() && rodata_flags.has_value());
  EXPECT_EQ(*text_flags, static_cast<uint32_t>(PF_R | PF_X));
  EXPECT_EQ(*rodata_flags, static_cast<uint32_t>(PF_R)) << ".rodata.hot shares a segment with code";
  // Every byte of it, not only the first: no segment boundary within.
  EXPECT_EQ(elf_.SegmentFlags(rodata->address + rodata->size - 1), rodata_flags);
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s BROKER SCRIPT ordered|sanitized\n", argv[0]);
    return 2;
  }
  broker_path = argv[1];
  script_path = argv[2];
  sanitized = std::strcmp(argv[3], "sanitized") == 0;
  return RUN_ALL_TESTS();
}
