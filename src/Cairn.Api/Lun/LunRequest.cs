using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cairn.Core;
using Cairn.Core.Workflows.Lun;

namespace Cairn.Api.Lun;

/// <summary>
/// Parses and validates LUN clone requests before anything runs: a request with any bad item is refused whole (400),
/// with every problem found (up to <see cref="MaxReported"/>) named by item index and field.
/// </summary>
public static class LunRequest
{
    /// <summary>Largest accepted batch.</summary>
    public const int MaxItems = 10_000;

    /// <summary>Problems listed in one 400 answer.</summary>
    public const int MaxReported = 20;

    private static readonly string[] CreateFields = ["src", "dst", "wwn", "initiators", "createParent", "properties", "ip", "port"];

    // Delete items may carry the create fields (scripts often send the same list to both calls): they are ignored.
    private static readonly string[] DeleteFields = ["dst", "wwn", "deleteClones", "deleteClone", "src", "initiators", "createParent", "properties", "ip", "port"];

    /// <summary>Validates a create body. Consumes it: each item is dropped from <paramref name="body"/> once read.</summary>
    public static List<LunCreateItem> ParseCreate(JsonObject body)
    {
        var errors = new List<string>();
        var list = new List<LunCreateItem>();
        // Items of one request mostly clone the same snapshot: one string for it, not one per item.
        var sources = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (i, o) in Items(body, errors))
        {
            var n = errors.Count;
            Unknown(o, CreateFields, i, errors);
            var src = Str(o, "src", i, errors);
            if (src is not null && Names.CheckSnapshot(src) is { } ws) errors.Add($"clones[{i}].src: {ws}");
            if (src is not null && !sources.TryAdd(src, src)) src = sources[src];
            var dst = Dataset(o, i, errors);
            var wwn = Wwn(o, i, errors);
            var inits = new List<string>(o["initiators"] is JsonArray a ? a.Count : 0);
            if (o["initiators"] is not JsonArray arr) errors.Add($"clones[{i}].initiators: required (an array of initiator IQNs)");
            else if (arr.Count == 0) errors.Add($"clones[{i}].initiators: empty; at least one initiator is needed");
            else
            {
                for (int k = 0; k < arr.Count; k++)
                {
                    var s = arr[k] is JsonValue v && v.TryGetValue<string>(out var t) ? t : null;
                    if (Iqn.Check(s) is { } why) errors.Add($"clones[{i}].initiators[{k}]: {why}");
                    else if (s!.ToLowerInvariant() is var lower && !inits.Contains(lower)) inits.Add(lower);
                }
            }
            var parent = Flag(o, "createParent", i, errors);
            var props = Properties(o, i, errors);
            var portal = Portal(o, i, errors);
            if (errors.Count == n) list.Add(new LunCreateItem(src!, dst!, wwn!, inits, parent, props, portal));
        }
        Duplicates(list.Select(x => x.Dst), "dst", StringComparer.Ordinal, errors);
        Duplicates(list.Select(x => x.Wwn), "wwn", StringComparer.OrdinalIgnoreCase, errors);
        Throw(errors);
        return list;
    }

    /// <summary>Validates a delete body. Consumes it: each item is dropped from <paramref name="body"/> once read.</summary>
    public static List<LunDeleteItem> ParseDelete(JsonObject body)
    {
        var errors = new List<string>();
        var list = new List<LunDeleteItem>();
        foreach (var (i, o) in Items(body, errors))
        {
            var n = errors.Count;
            Unknown(o, DeleteFields, i, errors);
            var dst = Dataset(o, i, errors);
            var wwn = Wwn(o, i, errors);
            // The original read only "deleteClones"; its documentation spells it "deleteClone". Either, true if any is.
            var del = Flag(o, "deleteClones", i, errors) | Flag(o, "deleteClone", i, errors);
            if (errors.Count == n) list.Add(new LunDeleteItem(dst!, wwn!, del));
        }
        Duplicates(list.Select(x => x.Dst), "dst", StringComparer.Ordinal, errors);
        Duplicates(list.Select(x => x.Wwn), "wwn", StringComparer.OrdinalIgnoreCase, errors);
        Throw(errors);
        return list;
    }

    /// <summary>The normalised request stored with a create job (see <see cref="LunJobRequest"/>).</summary>
    public static JsonObject ToJson(IEnumerable<LunCreateItem> items) => LunJobRequest.ToJson(items);

    /// <summary>The normalised request stored with a delete job.</summary>
    public static JsonObject ToJson(IEnumerable<LunDeleteItem> items) => LunJobRequest.ToJson(items);

    /// <summary>Reads back a stored create request.</summary>
    public static List<LunCreateItem> CreateFromJob(JsonNode? request) => LunJobRequest.CreateFromJob(request);

    /// <summary>Reads back a stored delete request.</summary>
    public static List<LunDeleteItem> DeleteFromJob(JsonNode? request) => LunJobRequest.DeleteFromJob(request);

    private static IEnumerable<(int Index, JsonObject Item)> Items(JsonObject body, List<string> errors)
    {
        foreach (var (k, _) in body)
            if (k != "clones") errors.Add($"unknown field '{k}' (expected only 'clones')");
        if (body["clones"] is not JsonArray arr)
        {
            errors.Add("'clones' (an array of items) is required");
            yield break;
        }
        if (arr.Count == 0) errors.Add("'clones' is empty");
        if (arr.Count > MaxItems)
        {
            errors.Add($"too many items ({arr.Count}); at most {MaxItems} per request");
            yield break;
        }
        for (int i = 0; i < arr.Count; i++)
        {
            if (arr[i] is JsonObject o) yield return (i, o);
            else errors.Add($"clones[{i}]: not an object");
            // Reading an item builds its node tree (~1.5 KB of small objects); dropping it once read lets it die young
            // instead of keeping the whole request's tree (15 MB for 10,000 items) alive until the job is submitted.
            arr[i] = null;
        }
    }

    private static void Unknown(JsonObject o, string[] known, int i, List<string> errors)
    {
        foreach (var (k, _) in o)
            if (!known.Contains(k, StringComparer.Ordinal)) errors.Add($"clones[{i}]: unknown field '{k}'");
    }

    private static string? Str(JsonObject o, string field, int i, List<string> errors)
    {
        if (o[field] is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0) return s;
        errors.Add($"clones[{i}].{field}: required (a non-empty string)");
        return null;
    }

    private static string? Dataset(JsonObject o, int i, List<string> errors)
    {
        var dst = Str(o, "dst", i, errors);
        if (dst is null) return null;
        if (Names.CheckDataset(dst) is { } why) { errors.Add($"clones[{i}].dst: {why}"); return null; }
        if (!dst.Contains('/')) { errors.Add($"clones[{i}].dst: '{dst}' is a pool, not a volume (expected pool/path)"); return null; }
        return dst;
    }

    private static string? Wwn(JsonObject o, int i, List<string> errors)
    {
        var wwn = Str(o, "wwn", i, errors);
        if (wwn is null) return null;
        if (Iqn.Check(wwn) is { } why) { errors.Add($"clones[{i}].wwn: {why}"); return null; }
        return wwn.ToLowerInvariant();
    }

    private static bool Flag(JsonObject o, string field, int i, List<string> errors)
    {
        try { return Json.Flag(o[field], field) ?? false; }
        catch (CairnException e) { errors.Add($"clones[{i}].{e.Message}"); return false; }
    }

    private static readonly IReadOnlyDictionary<string, string> NoProperties = new Dictionary<string, string>();

    private static IReadOnlyDictionary<string, string> Properties(JsonObject o, int i, List<string> errors)
    {
        var node = o["properties"];
        if (node is null || node is JsonObject { Count: 0 }) return NoProperties;
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        switch (node)
        {
            case JsonObject p:
                foreach (var (k, v) in p)
                {
                    if (k.Length is 0 or > 256 || k.Any(char.IsControl)) errors.Add($"clones[{i}].properties: invalid property name");
                    else if (v is JsonValue jv && jv.GetValueKind() is System.Text.Json.JsonValueKind.String or System.Text.Json.JsonValueKind.Number
                             or System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False)
                        d[k] = jv.GetValueKind() == System.Text.Json.JsonValueKind.String ? jv.GetValue<string>() : jv.ToJsonString();
                    else errors.Add($"clones[{i}].properties.{k}: must be a string, number or boolean");
                }
                break;
            default:
                errors.Add($"clones[{i}].properties: must be an object of property names to values");
                break;
        }
        return d;
    }

    private static string? Portal(JsonObject o, int i, List<string> errors)
    {
        if (o["ip"] is null && o["port"] is null) return null;
        IPAddress? ip = IPAddress.Any;
        if (o["ip"] is { } ipNode && !(ipNode is JsonValue v && v.TryGetValue<string>(out var s) && IPAddress.TryParse(s, out ip)))
        {
            errors.Add($"clones[{i}].ip: not an IP address");
            return null;
        }
        int port = 3260;
        if (o["port"] is { } pn)
        {
            var ok = pn is JsonValue pv && (pv.TryGetValue<int>(out port) || (pv.TryGetValue<string>(out var ps) && int.TryParse(ps, System.Globalization.CultureInfo.InvariantCulture, out port)));
            if (!ok || port is < 1 or > 65535) { errors.Add($"clones[{i}].port: must be 1-65535"); return null; }
        }
        return new IPEndPoint(ip!, port).ToString();
    }

    private static void Duplicates(IEnumerable<string> values, string field, StringComparer cmp, List<string> errors)
    {
        foreach (var g in values.GroupBy(v => v, cmp).Where(g => g.Count() > 1).Take(MaxReported))
            errors.Add($"{field} '{g.Key}' appears {g.Count()} times in the request");
    }

    private static void Throw(List<string> errors)
    {
        if (errors.Count == 0) return;
        var shown = string.Join("; ", errors.Take(MaxReported));
        throw CairnException.Invalid(errors.Count > MaxReported ? $"{shown}; and {errors.Count - MaxReported} more problems" : shown);
    }
}
