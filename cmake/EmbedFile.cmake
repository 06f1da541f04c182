# Embeds files in the build as C++ functions returning std::string_view.
#
#   embed_file(OUT_VAR SYMBOL FILE)  appends to OUT_VAR the generated source defining
#                                    std::string_view perfbpf::assets::SYMBOL()
#
# The source is regenerated when FILE changes. Run as a script (cmake -P) it does the work:
# the file's bytes become a char array (hex), so any content, "</script>" or NUL included,
# survives unchanged.
if(CMAKE_SCRIPT_MODE_FILE)
  file(READ "${EMBED_INPUT}" hex HEX)
  file(SIZE "${EMBED_INPUT}" size)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
  # Break the one long line every 32 bytes so compilers and diffs stay comfortable.
  string(REGEX REPLACE "(('\\\\x[0-9a-f][0-9a-f]',){32})" "\\1\n" bytes "${bytes}")
  file(WRITE "${EMBED_OUTPUT}"
    "// Generated from ${EMBED_INPUT} by cmake/EmbedFile.cmake; do not edit.\n"
    "#include <string_view>\n\nnamespace perfbpf::assets {\nnamespace {\n"
    "const char kData[${size} + 1] = {\n${bytes}'\\0'};\n}  // namespace\n\n"
    "std::string_view ${EMBED_SYMBOL}() { return {kData, ${size}}; }\n\n}  // namespace perfbpf::assets\n")
  return()
endif()

function(embed_file out_var symbol file)
  set(output "${CMAKE_CURRENT_BINARY_DIR}/embedded/${symbol}.cpp")
  add_custom_command(
    OUTPUT "${output}"
    COMMAND ${CMAKE_COMMAND} -DEMBED_INPUT=${file} -DEMBED_OUTPUT=${output} -DEMBED_SYMBOL=${symbol}
            -P "${PROJECT_SOURCE_DIR}/cmake/EmbedFile.cmake"
    DEPENDS "${file}" "${PROJECT_SOURCE_DIR}/cmake/EmbedFile.cmake"
    COMMENT "Embedding ${file}"
    VERBATIM)
  set(${out_var} ${${out_var}} "${output}" PARENT_SCOPE)
endfunction()
