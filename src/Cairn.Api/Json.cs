using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;
using Cairn.Core;

namespace Cairn.Api;

/// <summary>JSON helpers shared by the APIs: strict body reading with clear errors that name the field, never a .NET type.</summary>
public static partial class Json
{
    /// <summary>snake_case, no nulls dropped, enums as snake_case strings.</summary>
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        TypeInfoResolver = JsonTypeInfoResolver.Combine(CairnJsonContext.Default, new DefaultJsonTypeInfoResolver()),
    };

    /// <summary>Strict variant: unknown fields and duplicate fields are errors.</summary>
    public static readonly JsonSerializerOptions Strict = new(Options)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        AllowDuplicateProperties = false,
    };

    /// <summary>Bodies are parsed with duplicate keys refused: with them, which value counts is a guess (it was the last one).</summary>
    private static readonly JsonDocumentOptions Document = new() { AllowDuplicateProperties = false };

    /// <summary>Reads a JSON object body; a clear InvalidArgument on anything else.</summary>
    public static async Task<JsonObject> ReadObjectAsync(HttpRequest request, CancellationToken ct)
    {
        if (request.ContentLength == 0) throw CairnException.Invalid("request body is empty; a JSON object was expected");
        // Read whole (the node holds all of it anyway; Kestrel's body limit applies while reading), so that an error can
        // be located in the bytes afterwards.
        using var body = new MemoryStream();
        await request.Body.CopyToAsync(body, ct);
        var bytes = body.GetBuffer().AsSpan(0, (int)body.Length);
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(bytes, documentOptions: Document);
        }
        catch (JsonException ex)
        {
            // The parser names a duplicate key but not where it is: found again by walking the body, its full path.
            throw CairnException.Invalid(Duplicate(ex) is { } key
                ? $"{DuplicatePath(bytes) ?? Field(ex.Path, key)}: given more than once in the request body (duplicate key '{key}')"
                : $"request body is not valid JSON: {ex.Message.Split('.')[0]}{Where(ex)}");
        }
        return node as JsonObject ?? throw CairnException.Invalid("request body must be a JSON object");
    }

    /// <summary>Reads a body into <typeparamref name="T"/> with unknown fields and values of the wrong type named.</summary>
    public static async Task<T> ReadAsync<T>(HttpRequest request, CancellationToken ct)
    {
        var obj = await ReadObjectAsync(request, ct);
        try
        {
            return obj.Deserialize<T>(Strict) ?? throw CairnException.Invalid("request body is empty");
        }
        catch (JsonException ex)
        {
            if (ex.Message.Contains("could not be mapped", StringComparison.Ordinal))
                throw CairnException.Invalid("unknown field in request: " + ex.Message.Split('\'').ElementAtOrDefault(1));
            var field = Field(ex.Path, null);
            var expected = ExpectedAt(typeof(T), ex.Path);
            throw CairnException.Invalid(field.Length == 0
                ? $"invalid request body: expected {expected ?? "a JSON object"}"
                : $"{field}: expected {expected ?? "a value of another type"}");
        }
    }

    /// <summary>Reads a boolean the lenient way old clients send it: true/false, 1/0, "true"/"false"/"1"/"0".</summary>
    public static bool? Flag(JsonNode? node, string field) => LenientJson.Flag(node, field);

    /// <summary><c>$.luns[0].lun</c> → <c>luns[0].lun</c>; a duplicate key is appended to the path of its object.</summary>
    private static string Field(string? path, string? key)
    {
        var p = (path ?? "$").TrimStart('$').TrimStart('.');
        if (key is null) return p;
        // The parser's path ends at the object holding the key, or at the key itself.
        if (p.Length > 0 && (p == key || p.EndsWith("." + key, StringComparison.Ordinal) || p.EndsWith($"['{key}']", StringComparison.Ordinal))) return p;
        return p.Length == 0 ? key : p + "." + key;
    }

    private sealed class Frame(string path, bool isObject)
    {
        public readonly string Path = path;
        public readonly HashSet<string>? Keys = isObject ? new(StringComparer.Ordinal) : null;
        public int Index;
        public string? Pending;

        public string Child => Keys is null ? $"{Path}[{Index}]" : Path.Length == 0 ? Pending! : Path + "." + Pending;
    }

    /// <summary>The path (<c>ops[0].name</c>) of the first key given twice in one object of <paramref name="json"/>; null when none is.</summary>
    internal static string? DuplicatePath(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        var stack = new List<Frame>();
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject or JsonTokenType.StartArray:
                        stack.Add(new Frame(stack.Count == 0 ? "" : stack[^1].Child, reader.TokenType == JsonTokenType.StartObject));
                        break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray:
                        stack.RemoveAt(stack.Count - 1);
                        Completed(stack);
                        break;
                    case JsonTokenType.PropertyName:
                        var top = stack[^1];
                        var name = reader.GetString()!;
                        top.Pending = name;
                        if (!top.Keys!.Add(name)) return top.Child;
                        break;
                    default:
                        Completed(stack);
                        break;
                }
            }
        }
        catch (JsonException)
        {
            // Not valid JSON after all: the parser's own message stands.
        }
        return null;

        static void Completed(List<Frame> stack)
        {
            if (stack.Count == 0) return;
            if (stack[^1].Keys is null) stack[^1].Index++;
            else stack[^1].Pending = null;
        }
    }

    private static string? Duplicate(JsonException ex) =>
        ex.Message.Contains("uplicate", StringComparison.Ordinal) && DuplicateKey().Match(ex.Message) is { Success: true } m ? m.Groups[1].Value : null;

    private static string Where(JsonException ex) => ex.LineNumber is { } l && ex.BytePositionInLine is { } b ? $" (line {l + 1}, byte {b + 1})" : "";

    /// <summary>What the value at <paramref name="path"/> in a <paramref name="root"/> must be, in JSON words; null when unknown.</summary>
    private static string? ExpectedAt(Type root, string? path)
    {
        try
        {
            return Walk(root, path);
        }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException or ArgumentException)
        {
            return null; // a type the serializer cannot describe: the message names the field without the expected type
        }
    }

    private static string? Walk(Type root, string? path)
    {
        Type? t = root;
        foreach (Match seg in PathSegment().Matches(path ?? ""))
        {
            if (t is null) return null;
            var info = Strict.GetTypeInfo(t);
            if (seg.Groups["index"].Success) t = info.ElementType;
            else
            {
                var name = seg.Groups["name"].Success ? seg.Groups["name"].Value : seg.Groups["quoted"].Value;
                t = info.Kind == JsonTypeInfoKind.Object ? info.Properties.FirstOrDefault(p => p.Name == name)?.PropertyType : null;
            }
        }
        return t is null ? null : Words(t);
    }

    private static string Words(Type t)
    {
        t = Nullable.GetUnderlyingType(t) ?? t;
        if (t == typeof(JsonElement) || t == typeof(JsonNode)) return "a string or number";
        if (t == typeof(string)) return "a string";
        if (t == typeof(bool)) return "true or false";
        if (t == typeof(int) || t == typeof(long) || t == typeof(short) || t == typeof(uint) || t == typeof(ulong)) return "a whole number";
        if (t == typeof(double) || t == typeof(float) || t == typeof(decimal)) return "a number";
        if (t == typeof(Guid)) return "an id (a UUID string)";
        if (t == typeof(DateTimeOffset) || t == typeof(DateTime)) return "a date and time (ISO 8601 string)";
        return Strict.GetTypeInfo(t).Kind switch
        {
            JsonTypeInfoKind.Enumerable => "an array",
            JsonTypeInfoKind.Object or JsonTypeInfoKind.Dictionary => "an object",
            _ => "a value of another type",
        };
    }

    [GeneratedRegex("""'([^']*)'""")]
    private static partial Regex DuplicateKey();

    [GeneratedRegex("""\.(?<name>[A-Za-z0-9_]+)|\[(?<index>\d+)\]|\['(?<quoted>[^']*)'\]""")]
    private static partial Regex PathSegment();
}
