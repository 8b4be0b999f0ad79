-- shapes.lua - matrix-shape generators of the spec prelude (loaded before every spec).
--
-- Each generator returns a list of problems (the loader flattens it one level) with dimensions
-- m, k, n, named "m<m>_k<k>_n<n>".  A trailing options table adds to every problem: `prefix`
-- (a string put before the name) and any other entries as extra dimensions, e.g.
-- shapes.pow2(64, 256, { prefix = "b1_", beta = 1 }).  Errors name the spec's file:line.
--
--   shapes.custom { {m, k, n}, ... [, opts] }   the listed shapes
--   shapes.llama { M = 1, [opts...] }           Llama-2-70B single-node linear layers
--   shapes.pow2(lo, hi [, opts])                cubes n^3, n = lo, 2 lo, ..., hi
--   shapes.pow2_extended(lo, hi [, opts])       cubes for 2^p and 2^p + 2^(p-1) within [lo, hi]
--   shapes.sweep(lo, hi [, opts])               every (2^a, 2^b, 2^c) within [lo, hi]
--
-- A new kernel family defines its own generators the same way: a file in specs/lib/ (every
-- *.lua there is loaded, in name order) building problems with problem(name)(dims).
local kg = ...                        -- the loader's private helpers: kg.caller_line(level)

local function describe(v)
  if math.type(v) == "integer" then return "integer " .. v end
  if type(v) == "number" then return string.format("number %.17g", v) end
  if type(v) == "string" then return "string '" .. v .. "'" end
  return type(v)
end

-- An integer, or a float with an integral value; nil otherwise.
local function int_of(v)
  if type(v) ~= "number" then return nil end
  return math.tointeger(v)
end

local function is_pow2(v) return v >= 1 and v & (v - 1) == 0 end

-- Raise msg at the spec line that called the public generator (level: stack depth of that
-- generator below the caller of fail, 1 when fail is called from the generator itself).
local function fail(level, fmt, ...) error(string.format(fmt, ...), level + 2) end

local shapes = {}

-- The shape list being built: push {m, k, n} with the options (nil: none) and the spec line.
local function push(list, m, k, n, opts, line)
  local prefix = ""
  local dims = {}
  if opts then
    if type(opts.prefix) == "string" then prefix = opts.prefix
    elseif opts.prefix ~= nil then fail(2, "shapes: option 'prefix' must be a string") end
    for key, v in pairs(opts) do
      if type(key) == "string" and key ~= "prefix" and key ~= "M" then dims[key] = v end
    end
  end
  dims.m, dims.k, dims.n = m, k, n
  local p = problem(string.format("%sm%d_k%d_n%d", prefix, m, k, n))(dims)
  p.line = line
  list[#list + 1] = p
end

local function options(v, fn)
  if v == nil then return nil end
  if type(v) ~= "table" then fail(2, "%s: the options must be a table, got %s", fn, type(v)) end
  return v
end

local function bounds(lo, hi, fn)
  local d = 2
  local a, b = int_of(lo), int_of(hi)
  if not a then fail(d, "%s: argument 1 must be an integer, got %s", fn, describe(lo)) end
  if not b then fail(d, "%s: argument 2 must be an integer, got %s", fn, describe(hi)) end
  if not is_pow2(a) or not is_pow2(b) or b > 1 << 30 then
    fail(d, "%s: bounds must be powers of two up to 2^30, got %d and %d", fn, a, b)
  end
  if a > b then fail(d, "%s: lower bound %d exceeds upper bound %d", fn, a, b) end
  return a, b
end

function shapes.custom(list, opts)
  local line = kg.caller_line(2)
  if type(list) ~= "table" then
    fail(1, "bad argument #1 to 'custom' (table expected, got %s)", list == nil and "no value" or type(list))
  end
  opts = options(opts, "shapes.custom")
  if #list == 0 then fail(1, "shapes.custom: expected a non-empty list of {m, k, n}") end
  local out = {}
  for i = 1, #list do
    local e = list[i]
    if type(e) ~= "table" or #e ~= 3 then fail(1, "shapes.custom: entry %d must be {m, k, n}", i) end
    local v = {}
    for d = 1, 3 do
      v[d] = int_of(e[d])
      if not v[d] or v[d] < 1 then fail(1, "shapes.custom: entry %d: dimensions must be positive integers", i) end
    end
    push(out, v[1], v[2], v[3], opts, line)
  end
  return out
end

-- Llama-2-70B single-node linear layers with fused attn.wqkv and ffn.w13 (k, n).
local LLAMA = { { 8192, 1280 }, { 1024, 8192 }, { 8192, 7168 }, { 3584, 8192 } }

function shapes.llama(opts)
  local line = kg.caller_line(2)
  opts = options(opts, "shapes.llama")
  local m = 1
  if opts and opts.M ~= nil then
    m = int_of(opts.M)
    if not m or m < 1 then fail(1, "shapes.llama: M must be a positive integer") end
  end
  local out = {}
  for _, kn in ipairs(LLAMA) do push(out, m, kn[1], kn[2], opts, line) end
  return out
end

-- Cubes n^3 for n = lo, 2 lo, ..., hi, and with `extended` also 2^p + 2^(p-1) within [lo, hi].
-- Called as a tail call (`return cubes(...)`), so it stands in the generator's frame: the spec
-- is 2 levels up.
local function cubes(fn, lo, hi, opts, extended)
  local line = kg.caller_line(2)
  lo, hi = bounds(lo, hi, fn)
  opts = options(opts, fn)
  local out = {}
  local v = lo
  while v <= hi do
    push(out, v, v, v, opts, line)
    local x = v + v // 2
    if extended and v >= 2 and x <= hi then push(out, x, x, x, opts, line) end
    v = v * 2
  end
  return out
end

function shapes.pow2(lo, hi, opts) return cubes("shapes.pow2", lo, hi, opts, false) end

function shapes.pow2_extended(lo, hi, opts) return cubes("shapes.pow2_extended", lo, hi, opts, true) end

function shapes.sweep(lo, hi, opts)
  local line = kg.caller_line(2)
  lo, hi = bounds(lo, hi, "shapes.sweep")
  opts = options(opts, "shapes.sweep")
  local out = {}
  local m = lo
  while m <= hi do
    local k = lo
    while k <= hi do
      local n = lo
      while n <= hi do
        push(out, m, k, n, opts, line)
        n = n * 2
      end
      k = k * 2
    end
    m = m * 2
  end
  return out
end

_G.shapes = shapes
