using Cairn.Api.BlockStorage.Model;

namespace Cairn.Api.BlockStorage.Http;

/// <summary><c>/attachments</c> (3.27+; <c>os-complete</c> 3.44+), the API Nova uses today.</summary>
internal static class AttachEndpoints
{
    public static void Map(RouteGroupBuilder g)
    {
        g.MapPost("/attachments", async (HttpContext ctx, AttachWorkflows a, VolumeWorkflows w, CancellationToken ct) =>
        {
            var c = Require(ctx, 27);
            var body = CinderBody.Entity(await CinderBody.ReadAsync(ctx.Request, ct), "attachment");
            var volumeId = CinderBody.Text(body, "volume_uuid") ?? throw CinderError.BadRequest("Invalid input for field/attribute attachment. 'volume_uuid' is a required property");
            var vol = w.Require(c, CinderBody.Id(volumeId, "Volume"));
            var mode = CinderBody.Text(body, "mode") ?? "rw";
            if (mode is not ("rw" or "ro")) throw CinderError.BadRequest($"Invalid input received: Invalid attaching mode '{mode}'.");
            var connector = body["connector"] as JsonObject;
            var doc = await a.CreateAttachmentAsync(c, vol, CinderBody.Text(body, "instance_uuid"), connector, mode, ct);
            return Views.Json(new JsonObject { ["attachment"] = View(a, doc, detail: true) });
        });
        g.MapGet("/attachments", (HttpContext ctx, AttachWorkflows a) => List(ctx, a, detail: false));
        g.MapGet("/attachments/detail", (HttpContext ctx, AttachWorkflows a) => List(ctx, a, detail: true));
        g.MapGet("/attachments/{id}", (HttpContext ctx, string id, AttachWorkflows a) =>
        {
            var c = Require(ctx, 27);
            return Views.Json(new JsonObject { ["attachment"] = View(a, a.Require(c, CinderBody.Id(id, "Attachment")), detail: true) });
        });
        g.MapPut("/attachments/{id}", async (HttpContext ctx, string id, AttachWorkflows a, CancellationToken ct) =>
        {
            var c = Require(ctx, 27);
            var d = a.Require(c, CinderBody.Id(id, "Attachment"));
            var body = CinderBody.Entity(await CinderBody.ReadAsync(ctx.Request, ct), "attachment");
            var connector = body["connector"] as JsonObject ?? throw CinderError.BadRequest("Invalid input for field/attribute attachment. 'connector' is a required property");
            var (doc, _) = await a.UpdateAttachmentAsync(c, d, connector, ct);
            return Views.Json(new JsonObject { ["attachment"] = View(a, doc, detail: true) });
        });
        g.MapDelete("/attachments/{id}", async (HttpContext ctx, string id, AttachWorkflows a, CancellationToken ct) =>
        {
            var c = Require(ctx, 27);
            var left = await a.DeleteAttachmentAsync(c, a.Require(c, CinderBody.Id(id, "Attachment")), ct);
            var arr = new JsonArray();
            foreach (var d in left) arr.Add(View(a, d, detail: false));
            return Views.Json(new JsonObject { ["attachments"] = arr });
        });
        g.MapPost("/attachments/{id}/action", async (HttpContext ctx, string id, AttachWorkflows a, CancellationToken ct) =>
        {
            var c = Require(ctx, 44);
            var d = a.Require(c, CinderBody.Id(id, "Attachment"));
            var body = await CinderBody.ReadAsync(ctx.Request, ct);
            if (body.Count != 1 || !body.ContainsKey("os-complete")) throw CinderError.BadRequest("There is no such action: " + string.Join(", ", body.Select(p => p.Key)));
            await a.CompleteAsync(c, d, ct);
            return Results.NoContent();
        });
    }

    /// <summary>The request's context, or 404 below the microversion that added the call (Cinder's VersionNotFoundForAPIMethod).</summary>
    private static CinderRequest Require(HttpContext ctx, int minor)
    {
        var c = CinderRequest.Of(ctx);
        return c.AtLeast(minor) ? c : throw CinderError.NotFound($"The resource could not be found. (this call needs microversion 3.{minor} or later)");
    }

    private static IResult List(HttpContext ctx, AttachWorkflows a, bool detail)
    {
        var c = Require(ctx, 27);
        var q = ctx.Request.Query;
        var all = c.IsAdmin && q["all_tenants"].ToString() is { Length: > 0 } at && CinderBody.ParseBool(at, "all_tenants");
        IEnumerable<DocumentRecord> docs = a.List(all ? null : c.Project);
        if (q["volume_id"].ToString() is { Length: > 0 } vid) docs = docs.Where(d => VolumeAttrs.Str(d.Body, "volume_id") == vid);
        if (q["instance_id"].ToString() is { Length: > 0 } iid) docs = docs.Where(d => VolumeAttrs.Str(d.Body, "instance_uuid") == iid);
        var arr = new JsonArray();
        foreach (var d in docs) arr.Add(View(a, d, detail));
        return Views.Json(new JsonObject { ["attachments"] = arr });
    }

    private static JsonObject View(AttachWorkflows a, DocumentRecord d, bool detail)
    {
        var b = d.Body;
        var o = new JsonObject
        {
            ["id"] = d.Key,
            ["status"] = VolumeAttrs.Str(b, "attach_status"),
            ["instance"] = VolumeAttrs.Str(b, "instance_uuid"),
            ["volume_id"] = VolumeAttrs.Str(b, "volume_id"),
        };
        if (detail)
        {
            o["attached_at"] = VolumeAttrs.Str(b, "attach_time");
            o["detached_at"] = null;
            o["attach_mode"] = VolumeAttrs.Str(b, "attach_mode");
            // Nova reads the whole of it: driver_volume_type and data, as os-initialize_connection answers.
            o["connection_info"] = a.InfoOf(d) ?? new JsonObject();
        }
        return o;
    }
}
