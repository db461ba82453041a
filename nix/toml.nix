# TOML rendering for the restic-verify profile, in pure Nix: the NixOS module writes
# `services.restic-verify.settings` with it. nixpkgs' `pkgs.formats.toml` would need a
# derivation (remarshal) to produce the text, which cannot be evaluated, tested or
# reviewed without building; this renderer is plain evaluation.
#
# What it renders: tables (nested as `[job.weekly-check]`, simple keys before
# sub-tables, a header only where a table has keys of its own or none at all),
# strings (basic strings, every character TOML requires escaped), booleans,
# integers, floats (always with a `.` or exponent, so they stay floats), lists
# (inline arrays; attribute sets inside lists become inline tables) and path values
# (copied into the store, as `pkgs.formats.toml` does). `null` leaves a key out.
{ lib }:
let
  inherit (lib)
    attrNames
    concatMapStringsSep
    concatStringsSep
    filter
    isAttrs
    isBool
    isFloat
    isInt
    isList
    isPath
    isString
    ;

  hexDigits = lib.stringToCharacters "0123456789abcdef";
  hex2 = n: builtins.elemAt hexDigits (n / 16) + builtins.elemAt hexDigits (lib.mod n 16);

  # TOML forbids U+0000..U+001F (tab excepted) and U+007F unescaped in basic strings.
  # Nix strings cannot hold NUL, and its string syntax writes only \n, \r and \t, so
  # the other control characters are made from JSON escapes.
  controlCodes = filter (n: n != 9 && n != 10 && n != 13) (lib.range 1 31 ++ [ 127 ]);
  controlChars = map (n: builtins.fromJSON "\"\\u00${hex2 n}\"") controlCodes;
  controlEscapes = map (n: "\\u00${hex2 n}") controlCodes;

  escapeString =
    s:
    builtins.replaceStrings
      ([ "\\" "\"" "\n" "\r" "\t" ] ++ controlChars)
      ([ "\\\\" "\\\"" "\\n" "\\r" "\\t" ] ++ controlEscapes)
      s;

  quote = s: "\"${escapeString s}\"";

  key = k: if builtins.match "[A-Za-z0-9_-]+" k != null then k else quote k;

  isTable = v: isAttrs v && !lib.isDerivation v;

  float =
    f:
    let
      s = builtins.toJSON f;
    in
    if builtins.match ".*[.eE].*" s != null then s else "${s}.0";

  value =
    where: v:
    if v == null then
      throw "TOML has no null (at ${where}); leave the key out instead"
    else if isBool v then
      lib.boolToString v
    else if isInt v then
      toString v
    else if isFloat v then
      float v
    else if isString v || isPath v || lib.isDerivation v then
      quote "${v}"
    else if isList v then
      "[${concatMapStringsSep ", " (value where) v}]"
    else if isTable v then
      inlineTable where v
    else
      throw "cannot write a ${builtins.typeOf v} as TOML (at ${where})";

  present = t: filter (k: t.${k} != null) (attrNames t);

  inlineTable =
    where: t:
    let
      ks = present t;
    in
    if ks == [ ] then
      "{}"
    else
      "{ ${concatMapStringsSep ", " (k: "${key k} = ${value "${where}.${k}" t.${k}}") ks} }";

  # One table and everything below it. `path` is the list of keys leading to it.
  table =
    path: t:
    let
      where = if path == [ ] then "top level" else concatStringsSep "." path;
      ks = present t;
      simple = filter (k: !isTable t.${k}) ks;
      subs = filter (k: isTable t.${k}) ks;
      header = "[${concatMapStringsSep "." key path}]\n";
      body = concatMapStringsSep "" (k: "${key k} = ${value "${where}.${k}" t.${k}}\n") simple;
      showHeader = path != [ ] && (simple != [ ] || subs == [ ]);
      own = (if showHeader then header else "") + body;
      children = map (k: table (path ++ [ k ]) t.${k}) subs;
    in
    concatStringsSep "\n" (filter (s: s != "") ([ own ] ++ children));
in
{
  /**
    The TOML text of an attribute set.
  */
  render = t: table [ ] t;

  /**
    The option type of a TOML document's values: what `render` can write.
  */
  type =
    let
      valueType =
        lib.types.nullOr (
          lib.types.oneOf [
            lib.types.bool
            lib.types.int
            lib.types.float
            lib.types.str
            lib.types.path
            (lib.types.attrsOf valueType)
            (lib.types.listOf valueType)
          ]
        )
        // {
          description = "TOML value";
        };
    in
    valueType;

  inherit escapeString;
}
