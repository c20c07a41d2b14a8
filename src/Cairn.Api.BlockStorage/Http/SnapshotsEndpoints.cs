using Cairn.Api.BlockStorage.Model;

namespace Cairn.Api.BlockStorage.Http;

/// <summary><c>/snapshots</c>: create (with force for a volume in use), list, detail, show, update, delete, metadata, actions.</summary>
internal static class SnapshotsEndpoints
{
    private static readonly HashSet<string> SortKeys = new(StringComparer.Ordinal)
    {
        "id", "name", "status", "size", "created_at", "updated_at", "volume_id", "display_name", "project_id",
    };

    private static readonly string[] Updatable = ["name", "description", "display_name", "display_description"];

    public static void Map(RouteGroupBuilder g)
    {
        g.MapPost("/snapshots", async (HttpContext ctx, VolumeWorkflows w, CancellationToken ct) =>
        {
            var c = CinderRequest.Of(ctx);
            var body = CinderBody.Entity(await CinderBody.ReadAsync(ctx.Request, ct), "snapshot");
            if (!body.ContainsKey("volume_id")) throw CinderError.BadRequest("Invalid input for field/attribute snapshot. 'volume_id' is a required property");
            var volumeId = CinderBody.Text(body, "volume_id") ?? throw CinderError.NotFound("Volume None could not be found.");
            var vol = w.Get(CinderBody.Id(volumeId, "Volume")) is { } found && (c.IsAdmin || found.Project == c.Project)
                ? found : throw CinderError.NotFound($"Volume {volumeId} could not be found.");
            var force = CinderBody.Bool(body["force"], "force") ?? false;
            var snap = await w.CreateSnapshotAsync(c, vol,
                CinderBody.Text(body, "name") ?? CinderBody.Text(body, "display_name"),
                CinderBody.Text(body, "description", 65535) ?? CinderBody.Text(body, "display_description", 65535),
                force, CinderBody.Metadata(body["metadata"]), ct);
            return Views.Json(new JsonObject { ["snapshot"] = Views.Snapshot(c, snap, detail: false) }, 202);
        });
        g.MapGet("/snapshots", (HttpContext ctx, VolumeWorkflows w) => List(ctx, w, detail: false));
        g.MapGet("/snapshots/detail", (HttpContext ctx, VolumeWorkflows w) => List(ctx, w, detail: true));
        g.MapGet("/snapshots/{id}", (HttpContext ctx, string id, VolumeWorkflows w) =>
        {
            var c = CinderRequest.Of(ctx);
            return Views.Json(new JsonObject { ["snapshot"] = Views.Snapshot(c, w.RequireSnapshot(c, CinderBody.Id(id, "Snapshot")), detail: true) });
        });
        g.MapPut("/snapshots/{id}", async (HttpContext ctx, string id, VolumeWorkflows w, CancellationToken ct) =>
        {
            var c = CinderRequest.Of(ctx);
            c.RequireWrite();
            var s = w.RequireSnapshot(c, CinderBody.Id(id, "Snapshot"));
            var body = CinderBody.Entity(await CinderBody.ReadAsync(ctx.Request, ct), "snapshot");
            if (body.Count == 0 || body.Any(p => !Updatable.Contains(p.Key)))
                throw CinderError.BadRequest(body.Count == 0
                    ? "Invalid input for field/attribute snapshot. Value: {}. {} does not have enough properties"
                    : $"Invalid input for field/attribute snapshot. Additional properties are not allowed ('{body.First(p => !Updatable.Contains(p.Key)).Key}' was unexpected)");
            var name = CinderBody.Text(body, "name") ?? CinderBody.Text(body, "display_name");
            var desc = CinderBody.Text(body, "description", 65535) ?? CinderBody.Text(body, "display_description", 65535);
            var upd = await w.PutSnapshotAsync(s, r => r with
            {
                Attributes = VolumeAttrs.With(r.Attributes, a =>
                {
                    if (body.ContainsKey("name") || body.ContainsKey("display_name")) a["name"] = name;
                    if (body.ContainsKey("description") || body.ContainsKey("display_description")) a["description"] = desc;
                }),
            }, ct);
            return Views.Json(new JsonObject { ["snapshot"] = Views.Snapshot(c, upd, detail: false) });
        });
        g.MapDelete("/snapshots/{id}", async (HttpContext ctx, string id, VolumeWorkflows w, CancellationToken ct) =>
        {
            var c = CinderRequest.Of(ctx);
            await w.DeleteSnapshotAsync(c, w.RequireSnapshot(c, CinderBody.Id(id, "Snapshot")), force: false, ct);
            return Results.StatusCode(202);
        });
        g.MapPost("/snapshots/{id}/action", async (HttpContext ctx, string id, VolumeWorkflows w, CancellationToken ct) =>
        {
            var c = CinderRequest.Of(ctx);
            var s = w.RequireSnapshot(c, CinderBody.Id(id, "Snapshot"));
            var body = await CinderBody.ReadAsync(ctx.Request, ct);
            if (body.Count != 1) throw CinderError.BadRequest("There is no such action: " + string.Join(", ", body.Select(p => p.Key)));
            var (action, arg) = body.First();
            switch (action)
            {
                case "os-reset_status":
                    c.RequireAdmin();
                    var status = (arg as JsonObject) is { } o ? CinderBody.Text(o, "status") : null;
                    if (status is not ("available" or "error" or "creating" or "deleting" or "error_deleting"))
                        throw CinderError.BadRequest($"Invalid input received: Must specify a valid status ({status ?? "none"} is not one)");
                    await w.PutSnapshotAsync(s, r => r with { Status = status }, ct);
                    return Results.StatusCode(202);
                case "os-force_delete":
                    c.RequireAdmin();
                    await w.DeleteSnapshotAsync(c, s, force: true, ct);
                    return Results.StatusCode(202);
                case "os-unmanage":
                    c.RequireAdmin();
                    await ctx.RequestServices.GetRequiredService<ManageWorkflows>().UnmanageSnapshotAsync(c, s, ct);
                    return Results.StatusCode(202);
                // The original's code took os-export_snapshot, its document os-snapshot_export: both are served, and the
                // answer carries the key the request used.
                case "wrs-snapshot:os-export_snapshot" or "wrs-snapshot:os-snapshot_export":
                {
                    if (arg is not null && arg is not JsonObject { Count: 0 }) throw CinderError.BadRequest($"Invalid input for field/attribute {action}: no parameters are taken.");
                    var exported = await ctx.RequestServices.GetRequiredService<BackupWorkflows>().ExportSnapshotAsync(c, s, ct);
                    var vol = w.Get(exported.VolumeId);
                    return Views.Json(new JsonObject
                    {
                        [action] = new JsonObject
                        {
                            ["id"] = exported.Id.ToString("D"),
                            ["updated_at"] = Cinder.Time(exported.Updated),
                            ["status"] = exported.Status,
                            ["display_description"] = VolumeAttrs.Str(exported.Attributes, "description"),
                            ["volume_size"] = exported.Gigabytes(),
                            ["volume_type"] = vol is null ? null : ctx.RequestServices.GetRequiredService<CinderCatalog>().Get(vol.Str("volume_type_id") ?? "")?.Name,
                        },
                    }, 202);
                }
                default:
                    throw CinderError.BadRequest($"There is no such action: {action}");
            }
        });
        MetadataEndpoints.Map(g, "snapshots");
    }

    private static IResult List(HttpContext ctx, VolumeWorkflows w, bool detail)
    {
        var c = CinderRequest.Of(ctx);
        var q = ctx.Request.Query;
        var all = c.IsAdmin && q["all_tenants"].ToString() is { Length: > 0 } at && CinderBody.ParseBool(at, "all_tenants");
        var project = all ? (q["project_id"].ToString() is { Length: > 0 } p ? p : null) : c.Project;
        IEnumerable<SnapshotRecord> items = w.ListSnapshots(project);
        foreach (var (key, values) in q)
        {
            var value = values.ToString();
            items = key switch
            {
                "name" or "display_name" => items.Where(s => VolumeAttrs.Str(s.Attributes, "name") == value),
                "status" => items.Where(s => s.Status == value),
                "volume_id" => items.Where(s => s.VolumeId.ToString("D") == value),
                "metadata" => MetadataMatch(items, Listing.MetadataFilter(value)),
                _ => items,
            };
        }
        var page = Listing.Page(items, q, SortKeys, Field, s => s.Id.ToString("D"), out var next);
        var arr = new JsonArray();
        foreach (var s in page) arr.Add(Views.Snapshot(c, s, detail));
        var result = new JsonObject { ["snapshots"] = arr };
        if (next) result["snapshots_links"] = Listing.NextLink(ctx.Request, page[^1].Id.ToString("D"));
        return Views.Json(result);
    }

    private static IEnumerable<SnapshotRecord> MetadataMatch(IEnumerable<SnapshotRecord> items, IReadOnlyDictionary<string, string> wanted) =>
        items.Where(s =>
        {
            var m = VolumeAttrs.Metadata(s.Attributes);
            return wanted.All(kv => m[kv.Key] is JsonValue v && v.ToString() == kv.Value);
        });

    private static IComparable? Field(SnapshotRecord s, string key) => key switch
    {
        "id" => s.Id.ToString("D"),
        "name" or "display_name" => VolumeAttrs.Str(s.Attributes, "name"),
        "status" => s.Status,
        "size" => s.Size,
        "created_at" => s.Created,
        "updated_at" => s.Updated,
        "volume_id" => s.VolumeId.ToString("D"),
        "project_id" => s.ProjectOf(),
        _ => null,
    };
}
