using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Cairn.Core;

namespace Cairn.Cli;

/// <summary>Human tables and JSON output for the CLI.</summary>
internal static class Output
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static void Json(JsonNode? node) => Console.WriteLine(node?.ToJsonString(Indented) ?? "null");

    /// <summary>Prints an answer as the server sent it (the same contract, the same field names), indented.</summary>
    public static void Json<T>(T value, JsonTypeInfo<T> type) => Json(Node(value, type));

    /// <summary>An answer as a JSON tree, for the generic printers (<see cref="Fields"/>).</summary>
    public static JsonNode? Node<T>(T value, JsonTypeInfo<T> type) => JsonSerializer.SerializeToNode(value, type);

    /// <summary>Prints rows as aligned columns with a header.</summary>
    public static void Table(string[] headers, IEnumerable<string[]> rows)
    {
        var all = rows.ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => r[i].Length))).ToArray();
        void Line(string[] cells) => Console.WriteLine(string.Join("  ", cells.Select((c, i) => i == cells.Length - 1 ? c : c.PadRight(widths[i]))).TrimEnd());
        Line(headers);
        foreach (var r in all) Line(r);
    }

    /// <summary>Prints an object's fields as "key: value" lines.</summary>
    public static void Fields(JsonObject obj)
    {
        var w = obj.Max(kv => kv.Key.Length);
        foreach (var (k, v) in obj)
            Console.WriteLine($"{(k + ":").PadRight(w + 1)} {Str(v, k)}");
    }

    public static string Str(JsonNode? v, string? field = null)
    {
        if (v is null) return "-";
        if (v is JsonValue jv)
        {
            if (field is "size" or "used" or "referenced" or "free" or "allocated" && jv.TryGetValue<long>(out var n)) return Sizes.Format(n);
            if (jv.TryGetValue<string>(out var s)) return s;
            return jv.ToJsonString();
        }
        return v.ToJsonString();
    }

    public static string Str(string? s) => s ?? "-";

    public static string Str(long? n) => n is { } v ? v.ToString(CultureInfo.InvariantCulture) : "-";

    public static string Size(long? n) => n is { } v ? Sizes.Format(v) : "-";

    public static string Time(DateTimeOffset? t) => t is { } v ? v.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) : "-";

    public static string Size(JsonNode? v) => v is JsonValue jv && jv.TryGetValue<long>(out var n) ? Sizes.Format(n) : "-";

    public static string Time(JsonNode? v) =>
        v is JsonValue jv && jv.TryGetValue<string>(out var s) && DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.None, out var t)
            ? t.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) : "-";

    /// <summary>A one-line progress bar: <c>[#########-----------]  45%  phase</c>.</summary>
    public static string Bar(double fraction, int width = 30)
    {
        fraction = Math.Clamp(fraction, 0, 1);
        var filled = (int)Math.Round(fraction * width);
        return "[" + new string('#', filled) + new string('-', width - filled) + "] " + ((int)(fraction * 100)).ToString(CultureInfo.InvariantCulture).PadLeft(3) + "%";
    }
}

/// <summary>What <c>cairn volume export --json</c> prints (the CLI's own answer: export itself streams an image).</summary>
internal sealed record ExportedImage(string File, long Size, long Written);

/// <summary>Source-generated JSON for the CLI's own shapes, in the API's conventions.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ExportedImage))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
