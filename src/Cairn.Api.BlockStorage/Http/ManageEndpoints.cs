using System.Globalization;
using System.Text.Json;
using Cairn.Api.BlockStorage.Model;

namespace Cairn.Api.BlockStorage.Http;

/// <summary>Manage existing: <c>POST /os-volume-manage</c>, <c>GET /manageable_volumes[/detail]</c> (3.8+) and the older <c>GET /os-volume-manage[/detail]</c>.</summary>
internal static class ManageEndpoints
{
    public static void Map(RouteGroupBuilder g)
    {
        g.MapPost("/os-volume-manage", async (HttpContext ctx, ManageWorkflows m, Views views, CancellationToken ct) =>
        {
            var c = CinderRequest.Of(ctx);
            c.RequireAdmin();
            var body = CinderBody.Entity(await CinderBody.ReadAsync(ctx.Request, ct), "volume");
            var missing = Required.Where(k => body[k] is null).ToList();
            if (missing.Count > 0) throw CinderError.BadRequest($"Invalid input for field/attribute volume. Value: {body.ToJsonString()}. '{missing[0]}' is a required property");
            var reference = body["ref"] as JsonObject ?? throw CinderError.BadRequest($"Invalid input for field/attribute ref. Value: {CinderBody.Show(body["ref"])}. {CinderBody.Show(body["ref"])} is not of type 'object'");
            var sourceName = reference["source-name"] is { } sn ? Scalar(sn) : null;
            var sourceIdText = reference["source-id"] is { } si ? Scalar(si) : null;
            if (sourceName is null && sourceIdText is null)
                throw CinderError.BadRequest($"Manage existing volume failed due to invalid backend reference {reference.ToJsonString()}: the reference needs 'source-name' (the volume's name in the pool) or 'source-id'");
            Guid? sourceId = null;
            if (sourceName is null)
                sourceId = Guid.TryParse(sourceIdText, out var gid) ? gid
                    : throw CinderError.BadRequest($"Manage existing volume failed due to invalid backend reference {reference.ToJsonString()}: source-id is not a volume id");
            var req = new VolumeManage(
                CinderBody.Text(body, "host") ?? "",
                sourceName, sourceId,
                CinderBody.Text(body, "name")?.Trim(),
                CinderBody.Text(body, "description", 65535)?.Trim(),
                CinderBody.Text(body, "volume_type"),
                CinderBody.Text(body, "availability_zone"),
                CinderBody.Metadata(body["metadata"]),
                CinderBody.Bool(body["bootable"], "bootable") ?? false);
            var made = await m.ManageAsync(c, req, ct);
            return Views.Json(new JsonObject { ["volume"] = views.Volume(c, made) }, 202);
        });
        g.MapGet("/manageable_volumes", async (HttpContext ctx, ManageWorkflows m, CancellationToken ct) => await ListAsync(ctx, m, detail: false, needs38: true, ct));
        g.MapGet("/manageable_volumes/detail", async (HttpContext ctx, ManageWorkflows m, CancellationToken ct) => await ListAsync(ctx, m, detail: true, needs38: true, ct));
        g.MapGet("/os-volume-manage", async (HttpContext ctx, ManageWorkflows m, CancellationToken ct) => await ListAsync(ctx, m, detail: false, needs38: false, ct));
        g.MapGet("/os-volume-manage/detail", async (HttpContext ctx, ManageWorkflows m, CancellationToken ct) => await ListAsync(ctx, m, detail: true, needs38: false, ct));

        // Snapshots: POST /os-snapshot-manage (what cinderclient sends) and /manageable_snapshots (3.8+), with their listings.
        g.MapPost("/os-snapshot-manage", async (HttpContext ctx, ManageWorkflows m, CancellationToken ct) => await ManageSnapshotAsync(ctx, m, needs38: false, ct));
        g.MapPost("/manageable_snapshots", async (HttpContext ctx, ManageWorkflows m, CancellationToken ct) => await ManageSnapshotAsync(ctx, m, needs38: true, ct));
        g.MapGet("/manageable_snapshots", async (HttpContext ctx, ManageWorkflows m, CancellationToken ct) => await ListSnapshotsAsync(ctx, m, detail: false, needs38: true, ct));
        g.MapGet("/manageable_snapshots/detail", async (HttpContext ctx, ManageWorkflows m, CancellationToken ct) => await ListSnapshotsAsync(ctx, m, detail: true, needs38: true, ct));
        g.MapGet("/os-snapshot-manage", async (HttpContext ctx, ManageWorkflows m, CancellationToken ct) => await ListSnapshotsAsync(ctx, m, detail: false, needs38: false, ct));
        g.MapGet("/os-snapshot-manage/detail", async (HttpContext ctx, ManageWorkflows m, CancellationToken ct) => await ListSnapshotsAsync(ctx, m, detail: true, needs38: false, ct));
    }

    private static readonly string[] SnapshotRequired = ["volume_id", "ref"];

    private static async Task<IResult> ManageSnapshotAsync(HttpContext ctx, ManageWorkflows m, bool needs38, CancellationToken ct)
    {
        var c = CinderRequest.Of(ctx);
        if (needs38 && !c.AtLeast(8)) throw CinderError.NotFound("The resource could not be found.");
        c.RequireAdmin();
        var body = CinderBody.Entity(await CinderBody.ReadAsync(ctx.Request, ct), "snapshot");
        var missing = SnapshotRequired.Where(k => body[k] is null).ToList();
        if (missing.Count > 0) throw CinderError.BadRequest($"Invalid input for field/attribute snapshot. Value: {body.ToJsonString()}. '{missing[0]}' is a required property");
        var reference = body["ref"] as JsonObject ?? throw CinderError.BadRequest($"Invalid input for field/attribute ref. Value: {CinderBody.Show(body["ref"])}. {CinderBody.Show(body["ref"])} is not of type 'object'");
        var sourceName = reference["source-name"] is { } sn ? Scalar(sn) : null;
        if (string.IsNullOrEmpty(sourceName))
            throw CinderError.BadRequest($"Manage existing snapshot failed due to invalid backend reference {reference.ToJsonString()}: the reference needs 'source-name' (the snapshot's name on its volume)");
        var volumeId = CinderBody.Id(CinderBody.Text(body, "volume_id") ?? "", "Volume");
        var req = new SnapshotManage(volumeId, sourceName,
            CinderBody.Text(body, "name")?.Trim(),
            CinderBody.Text(body, "description", 65535)?.Trim(),
            CinderBody.Metadata(body["metadata"]));
        var made = await m.ManageSnapshotAsync(c, req, ct);
        return Views.Json(new JsonObject { ["snapshot"] = Views.Snapshot(c, made, detail: true) }, 202);
    }

    private static async Task<IResult> ListSnapshotsAsync(HttpContext ctx, ManageWorkflows m, bool detail, bool needs38, CancellationToken ct)
    {
        var c = CinderRequest.Of(ctx);
        if (needs38 && !c.AtLeast(8)) throw CinderError.NotFound("The resource could not be found.");
        c.RequireAdmin();
        var q = ctx.Request.Query;
        m.RequireHost(q["host"].ToString(), listing: true);
        var (keys, dirs) = SortParams(q);
        var limit = Listing.Limit(q) ?? 1000;
        var offset = Listing.Offset(q);
        IEnumerable<ManageableSnapshot> items = await m.ListSnapshotsAsync(ct);
        // The reference alone is not unique across volumes: volume then name keeps the order total.
        string Key(ManageableSnapshot x) => x.VolumeReference + "@" + x.Reference;
        IOrderedEnumerable<ManageableSnapshot>? ordered = null;
        for (int i = 0; i < keys.Count; i++)
        {
            Func<ManageableSnapshot, IComparable> key = keys[i] == "size" ? x => x.Gigabytes : x => x.Reference;
            var desc = dirs[i] == "desc";
            ordered = ordered is null
                ? (desc ? items.OrderByDescending(key) : items.OrderBy(key))
                : (desc ? ordered.ThenByDescending(key) : ordered.ThenBy(key));
        }
        var sorted = (ordered ?? items.OrderBy(x => 0)).ThenBy(Key, StringComparer.Ordinal).ToList();
        var start = 0;
        if (q["marker"].ToString() is { Length: > 0 } marker)
        {
            var name = MarkerName(marker);
            var at = sorted.FindIndex(x => x.Reference == name || Key(x) == name);
            if (at < 0) throw CinderError.BadRequest($"Invalid input received: marker not found: {marker}");
            start = at + 1;
        }
        var list = new JsonArray();
        foreach (var x in sorted.Skip(start + offset).Take(limit))
        {
            var o = new JsonObject
            {
                ["reference"] = new JsonObject { ["source-name"] = x.Reference },
                ["size"] = x.Gigabytes,
                ["safe_to_manage"] = x.Safe,
                ["source_reference"] = new JsonObject { ["source-name"] = x.VolumeReference },
            };
            if (detail)
            {
                o["reason_not_safe"] = x.Reason;
                o["cinder_id"] = x.CinderId?.ToString("D");
                o["extra_info"] = new JsonObject
                {
                    ["bytes"] = x.Snapshot.Size.ToString(CultureInfo.InvariantCulture),
                    ["used_bytes"] = x.Snapshot.Used.ToString(CultureInfo.InvariantCulture),
                    ["created_at"] = Cinder.Time(x.Snapshot.Created),
                };
            }
            list.Add(o);
        }
        return Views.Json(new JsonObject { ["manageable-snapshots"] = list });
    }

    private static readonly string[] Required = ["host", "ref"];

    private static string Scalar(JsonNode n) => n is JsonValue v && v.TryGetValue<string>(out var s) ? s : n.ToJsonString();

    private static readonly string[] SortKeys = ["reference", "size"];

    private static async Task<IResult> ListAsync(HttpContext ctx, ManageWorkflows m, bool detail, bool needs38, CancellationToken ct)
    {
        var c = CinderRequest.Of(ctx);
        if (needs38 && !c.AtLeast(8)) throw CinderError.NotFound("The resource could not be found.");
        c.RequireAdmin();
        var q = ctx.Request.Query;
        m.RequireHost(q["host"].ToString(), listing: true);
        var (keys, dirs) = SortParams(q);
        var limit = Listing.Limit(q) ?? 1000;
        var offset = Listing.Offset(q);
        IEnumerable<Manageable> items = await m.ListAsync(ct);
        IOrderedEnumerable<Manageable>? ordered = null;
        for (int i = 0; i < keys.Count; i++)
        {
            Func<Manageable, IComparable> key = keys[i] == "size" ? x => x.Gigabytes : x => x.Reference;
            var desc = dirs[i] == "desc";
            ordered = ordered is null
                ? (desc ? items.OrderByDescending(key) : items.OrderBy(key))
                : (desc ? ordered.ThenByDescending(key) : ordered.ThenBy(key));
        }
        var sorted = (ordered ?? items).ToList();
        var start = 0;
        if (q["marker"].ToString() is { Length: > 0 } marker)
        {
            var name = MarkerName(marker);
            var at = sorted.FindIndex(x => x.Reference == name);
            if (at < 0) throw CinderError.BadRequest($"Invalid input received: marker not found: {marker}");
            start = at + 1;
        }
        var page = sorted.Skip(start + offset).Take(limit);
        var list = new JsonArray();
        foreach (var x in page)
        {
            var o = new JsonObject
            {
                ["reference"] = new JsonObject { ["source-name"] = x.Reference },
                ["size"] = x.Gigabytes,
                ["safe_to_manage"] = x.Safe,
            };
            if (detail)
            {
                o["reason_not_safe"] = x.Reason;
                o["cinder_id"] = x.CinderId?.ToString("D");
                o["extra_info"] = new JsonObject
                {
                    ["bytes"] = x.Dataset.Size.ToString(CultureInfo.InvariantCulture),
                    ["used_bytes"] = x.Dataset.Used.ToString(CultureInfo.InvariantCulture),
                    ["created_at"] = Cinder.Time(x.Dataset.Created),
                };
            }
            list.Add(o);
        }
        return Views.Json(new JsonObject { ["manageable-volumes"] = list });
    }

    /// <summary>Cinder's marker here is the reference: JSON (<c>{"source-name": "x"}</c>) or the bare name.</summary>
    private static string MarkerName(string marker)
    {
        try
        {
            if (JsonNode.Parse(marker) is JsonObject o)
                return o.Select(kv => kv.Value?.ToString() ?? "").OrderBy(s => s, StringComparer.Ordinal).FirstOrDefault() ?? "";
        }
        catch (JsonException) { }
        return marker;
    }

    /// <summary>Cinder's <c>get_sort_params</c> with the default key <c>reference</c> and direction <c>desc</c>; keys only reference and size.</summary>
    private static (List<string> Keys, List<string> Dirs) SortParams(IQueryCollection q)
    {
        var keys = new List<string>();
        var dirs = new List<string>();
        if (q["sort"].ToString() is { Length: > 0 } sort)
        {
            if (q.ContainsKey("sort_key") || q.ContainsKey("sort_dir"))
                throw CinderError.BadRequest("Invalid input received: The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter.");
            foreach (var part in sort.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                var kv = part.Split(':', 2);
                keys.Add(kv[0]);
                dirs.Add(kv.Length > 1 ? kv[1].ToLowerInvariant() : "desc");
            }
        }
        else
        {
            if (q["sort_key"].ToString() is { Length: > 0 } k) keys.Add(k);
            dirs.Add(q["sort_dir"].ToString() is { Length: > 0 } d ? d.ToLowerInvariant() : "desc");
        }
        if (keys.Count == 0) keys.Add("reference");
        var badKeys = keys.Where(k => !SortKeys.Contains(k)).ToList();
        if (badKeys.Count > 0) throw CinderError.BadRequest($"Invalid input received: Invalid sort keys passed: {string.Join(", ", badKeys)}");
        var badDirs = dirs.Where(d => d is not ("asc" or "desc")).ToList();
        if (badDirs.Count > 0) throw CinderError.BadRequest($"Invalid input received: Invalid sort dirs passed: {string.Join(", ", badDirs)}");
        return (keys, dirs);
    }
}
