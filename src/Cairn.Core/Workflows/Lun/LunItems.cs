using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cairn.Core.Workflows.Lun;

/// <summary>One item of a create request, validated and normalised (wwn and initiators lower-cased).</summary>
public sealed record LunCreateItem(string Src, string Dst, string Wwn, IReadOnlyList<string> Initiators, bool CreateParent,
    IReadOnlyDictionary<string, string> Properties, string? Portal);

/// <summary>One item of a delete request.</summary>
public sealed record LunDeleteItem(string Dst, string Wwn, bool DeleteClones);

/// <summary>
/// The normalised request a LUN job stores and its handler reads back (already validated by the API that took it).
/// </summary>
public static class LunJobRequest
{
    // The stored request is written and read as JSON text, never as a tree of nodes: a JsonNode parsed from text stays
    // one buffer until something walks it, where a walked tree of a 1,000-item request is a megabyte of small objects
    // that the job keeps alive while it runs (and the garbage collector copies: that was part of the clone_status tail).

    /// <summary>The normalised request stored with a create job (what the handler reads back).</summary>
    public static JsonObject ToJson(IEnumerable<LunCreateItem> items) => Compact(w =>
    {
        foreach (var x in items)
        {
            w.WriteStartObject();
            w.WriteString("src", x.Src);
            w.WriteString("dst", x.Dst);
            w.WriteString("wwn", x.Wwn);
            w.WriteStartArray("initiators");
            foreach (var i in x.Initiators) w.WriteStringValue(i);
            w.WriteEndArray();
            w.WriteBoolean("createParent", x.CreateParent);
            w.WriteStartObject("properties");
            foreach (var (k, v) in x.Properties) w.WriteString(k, v);
            w.WriteEndObject();
            if (x.Portal is null) w.WriteNull("portal");
            else w.WriteString("portal", x.Portal);
            w.WriteEndObject();
        }
    });

    /// <summary>The normalised request stored with a delete job.</summary>
    public static JsonObject ToJson(IEnumerable<LunDeleteItem> items) => Compact(w =>
    {
        foreach (var x in items)
        {
            w.WriteStartObject();
            w.WriteString("dst", x.Dst);
            w.WriteString("wwn", x.Wwn);
            w.WriteBoolean("deleteClones", x.DeleteClones);
            w.WriteEndObject();
        }
    });

    /// <summary>Reads back a stored create request (already validated).</summary>
    public static List<LunCreateItem> CreateFromJob(JsonNode? request)
    {
        var sources = new Dictionary<string, string>(StringComparer.Ordinal);
        return Stored(request, o =>
        {
            var inits = new List<string>(o.GetProperty("initiators").GetArrayLength());
            foreach (var i in o.GetProperty("initiators").EnumerateArray()) inits.Add(i.GetString()!);
            var props = NoProperties;
            if (o.TryGetProperty("properties", out var p) && p.ValueKind == JsonValueKind.Object && p.EnumerateObject().Any())
            {
                var d = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var kv in p.EnumerateObject()) d[kv.Name] = kv.Value.GetString()!;
                props = d;
            }
            var portal = o.TryGetProperty("portal", out var pt) && pt.ValueKind == JsonValueKind.String ? pt.GetString() : null;
            var src = o.GetProperty("src").GetString()!;
            if (!sources.TryAdd(src, src)) src = sources[src];
            return new LunCreateItem(src, o.GetProperty("dst").GetString()!, o.GetProperty("wwn").GetString()!,
                inits, o.GetProperty("createParent").GetBoolean(), props, portal);
        });
    }

    /// <summary>Reads back a stored delete request.</summary>
    public static List<LunDeleteItem> DeleteFromJob(JsonNode? request) => Stored(request, o =>
        new LunDeleteItem(o.GetProperty("dst").GetString()!, o.GetProperty("wwn").GetString()!, o.GetProperty("deleteClones").GetBoolean()));

    private static JsonObject Compact(Action<Utf8JsonWriter> writeItems)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartArray("clones");
            writeItems(w);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return (JsonObject)JsonNode.Parse(buffer.WrittenSpan)!;
    }

    private static List<T> Stored<T>(JsonNode? request, Func<JsonElement, T> read)
    {
        // Serializing a node that was parsed from text copies that text; a node built in memory is written out once.
        using var doc = request is null ? null : JsonSerializer.SerializeToDocument(request);
        if (doc is null || doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("clones", out var clones)
            || clones.ValueKind != JsonValueKind.Array)
            throw CairnException.Invalid("job has no clones in its request");
        var list = new List<T>(clones.GetArrayLength());
        foreach (var o in clones.EnumerateArray()) list.Add(read(o));
        return list;
    }

    private static readonly IReadOnlyDictionary<string, string> NoProperties = new Dictionary<string, string>();
}
