using System.Globalization;
using System.Security.Cryptography;
using System.Xml.Linq;
using Cairn.Integration.Tests.Support;
using Cairn.TestSupport;

namespace Cairn.Integration.Tests;

/// <summary>
/// The installer playbooks (deploy/ansible, issue 13) on a real lab (deploy/lab/lab.sh): 3 storage and 3 access hosts in
/// network namespaces, each with its own sshd, glusterd, loop-device disks and, on access hosts, keepalived and
/// NFS-Ganesha. Plain ansible-playbook runs every step in the controller namespace; the checks use the real clients:
/// gluster's XML, libnfs (NFSv4) through every VIP, and GlusterFS FUSE mounts through every VIP.
/// </summary>
public sealed class InstallerLabTests(InstallerLabFixture fixture, ITestOutputHelper output) : IClassFixture<InstallerLabFixture>
{
    [Fact]
    public async Task Deploy_starts_a_replica_3_volume_and_every_vip_serves_its_data_over_nfs_and_glusterfs()
    {
        var lab = await fixture.DeployedAsync();

        var info = await VolumeInfoAsync(lab);
        Assert.Equal("Started", (string?)info.Element("statusStr"));
        Assert.Equal("3", (string?)info.Element("replicaCount"));
        Assert.Equal(0, int.Parse((string)info.Element("brickCount")!, CultureInfo.InvariantCulture) % 3);
        var bricks = info.Element("bricks")!.Elements("brick").Select(b => (string)b.Element("name")!).ToList();
        Assert.Contains(bricks, b => b.EndsWith("/vol0/sdc/brick", StringComparison.Ordinal));
        // every set of three on three distinct storage hosts
        foreach (var set in bricks.Chunk(3)) Assert.Equal(3, set.Select(b => b[..b.IndexOf(':', StringComparison.Ordinal)]).Distinct().Count());

        // each VIP is held by the access node it belongs to
        for (var i = 0; i < fixture.AccessNodes.Count; i++)
        {
            var addrs = await lab.ExecAsync(fixture.HostOf(fixture.AccessNodes[i]), "ip", "-o", "-4", "addr", "show", "dev", "eth0");
            Assert.Contains($" {fixture.Vips[i]}/", addrs.StdOut, StringComparison.Ordinal);
        }

        // NFS (NFSv4, libnfs from the controller namespace): a file written through each VIP is read back through every
        // VIP. libnfs 4.0 cannot encode an NFSv4 WRITE of more than about 4 KiB ("ZDR error: Failed to encode
        // COMPOUND4args"), so NFS writes are small; the large files below are written over GlusterFS and read over NFS.
        var vips = fixture.Vips.Append(fixture.BridgeVip).ToList();
        var local = TempDir.Create("cairn-installer-nfs");
        foreach (var vip in vips)
        {
            var name = $"t-{Guid.NewGuid():N}.bin";
            var data = RandomNumberGenerator.GetBytes(3000);
            await File.WriteAllBytesAsync(Path.Combine(local, name), data);
            var put = await lab.CtlAsync(TimeSpan.FromMinutes(1), null, "nfs-cp", Path.Combine(local, name), Nfs(vip, name));
            Assert.True(put.Succeeded, $"nfs-cp through {vip}: {put.Output()}");
            foreach (var reader in vips)
                Assert.Equal(Md5(data), await NfsMd5Async(lab, reader, name, local));

            // GlusterFS native protocol through the same VIP (FUSE mount on a storage host): the NFS file reads the
            // same, and a 1 MiB file written there reads the same over NFS through every VIP
            var big = $"g-{Guid.NewGuid():N}.bin";
            var sums = await FuseAsync(lab, vip, $"md5sum /run/t/{name} | cut -d' ' -f1; head -c 1048576 /dev/urandom > /run/t/{big}; md5sum /run/t/{big} | cut -d' ' -f1");
            var lines = sums.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(Md5(data), lines[0]);
            foreach (var reader in vips)
                Assert.Equal(lines[1], await NfsMd5Async(lab, reader, big, local));
        }
    }

    [Fact]
    public async Task A_second_run_of_every_playbook_changes_nothing()
    {
        var lab = await fixture.DeployedAsync();
        var r = await fixture.PlaybookAsync(fixture.EnvFile, "site.yml");
        Assert.True(r.Succeeded, $"site.yml re-run failed ({r.Exit()}):\n{InstallerLabFixture.Tail(r.Output())}");
        var recap = InstallerLab.Recap(r.StdOut);
        foreach (var node in fixture.StorageNodes.Concat(fixture.AccessNodes))
        {
            Assert.True(recap.TryGetValue(node, out var counts), $"{node} is not in the recap:\n{InstallerLabFixture.Tail(r.StdOut, 20)}");
            Assert.True(counts.Changed == 0 && counts.Failed == 0 && counts.Unreachable == 0,
                $"{node} on the re-run: {counts}\n{Changed(r.StdOut)}");
        }
        output.WriteLine(string.Join("\n", recap.Select(kv => $"{kv.Key}: {kv.Value}")));
        Assert.Equal("Started", (string?)(await VolumeInfoAsync(lab)).Element("statusStr"));
    }

    [Fact]
    public async Task Scale_storage_adds_a_brick_set_rebalances_and_keeps_the_data()
    {
        var lab = await fixture.DeployedAsync();
        var before = await VolumeInfoAsync(lab);
        if ((string?)before.Element("brickCount") != "3") Assert.Fail("the volume was already scaled; this test scales it from one set");

        // data written before the scale: 48 files of 1 MiB over GlusterFS (so the rebalance has something to move) and a
        // small file over NFS
        var local = TempDir.Create("cairn-installer-scale");
        var beforeSums = await FuseAsync(lab, fixture.Vips[0],
            "mkdir -p /run/t/scale && for i in $(seq -w 1 48); do head -c 1048576 /dev/urandom > /run/t/scale/s-$i.bin; done && cd /run/t/scale && md5sum s-*.bin");
        var files = beforeSums.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split("  "))
            .ToDictionary(p => p[1], p => p[0], StringComparer.Ordinal);
        Assert.Equal(48, files.Count);
        var note = RandomNumberGenerator.GetBytes(2000);
        await File.WriteAllBytesAsync(Path.Combine(local, "note.bin"), note);
        var put = await lab.CtlAsync(TimeSpan.FromMinutes(1), null, "nfs-cp", Path.Combine(local, "note.bin"), Nfs(fixture.Vips[0], "scale/note.bin"));
        Assert.True(put.Succeeded, $"nfs-cp note.bin: {put.Output()}");

        foreach (var step in InstallerLabFixture.ScaleStorageSteps)
        {
            var r = await fixture.PlaybookAsync(fixture.ScaleEnvFile, step);
            Assert.True(r.Succeeded, $"{step} failed ({r.Exit()}):\n{InstallerLabFixture.Tail(r.Output())}");
            if (step == "scale_storage.yml") output.WriteLine(string.Join("\n", r.StdOut.Split('\n').Where(l => l.Contains("files,", StringComparison.Ordinal))));
        }

        var after = await VolumeInfoAsync(lab);
        Assert.Equal("Started", (string?)after.Element("statusStr"));
        Assert.Equal("6", (string?)after.Element("brickCount"));
        Assert.Equal("3", (string?)after.Element("replicaCount"));
        Assert.Equal(3, after.Element("bricks")!.Elements("brick").Count(b => ((string)b.Element("name")!).EndsWith("/vol0/sdd/brick", StringComparison.Ordinal)));

        var rebalance = await lab.ExecAsync("h1", "gluster", "--mode=script", "--xml", "volume", "rebalance", "vol0", "status");
        var nodes = XDocument.Parse(rebalance.StdOut).Descendants("volRebalance").Elements("node").ToList();
        Assert.NotEmpty(nodes);
        Assert.All(nodes, n => Assert.Equal("completed", (string?)n.Element("statusStr")));
        var moved = nodes.Sum(n => long.Parse((string)n.Element("files")!, CultureInfo.InvariantCulture));
        output.WriteLine($"rebalance moved {moved} files");

        // every file intact, over NFS through another VIP and over a FUSE mount of the bridge VIP
        foreach (var (name, sum) in files) Assert.Equal(sum, await NfsMd5Async(lab, fixture.Vips[1], "scale/" + name, local));
        Assert.Equal(Md5(note), await NfsMd5Async(lab, fixture.Vips[2], "scale/note.bin", local));
        var afterSums = await FuseAsync(lab, fixture.BridgeVip, "cd /run/t/scale && md5sum s-*.bin");
        foreach (var (name, sum) in files) Assert.Contains($"{sum}  {name}", afterSums, StringComparison.Ordinal);
        // the new bricks hold some of the files now
        var onNew = await lab.ExecAsync("h1", "sh", "-c", "ls /srv/cairn/bricks/vol0/sdd/brick/scale | grep -c '^s-' || true");
        output.WriteLine($"files on h1's new brick: {onNew.StdOut.Trim()}");
    }

    [Fact]
    public async Task Precheck_of_an_unreachable_node_fails_fast_and_names_it()
    {
        var lab = await fixture.DeployedAsync();
        // a fourth storage node at an address of the lab's network that no host has
        var prefix = lab.Network[..lab.Network.LastIndexOf('.')];
        var inventory = (await File.ReadAllTextAsync(fixture.Inventory)).Replace("[access]", $"node_gone ansible_host={prefix}.99 ansible_port=22\n\n[access]", StringComparison.Ordinal);
        var dir = TempDir.Create("cairn-installer-gone");
        var inv = Path.Combine(dir, "inventory.ini");
        await File.WriteAllTextAsync(inv, inventory);
        var started = DateTime.UtcNow;
        var r = await fixture.PlaybookAsync(fixture.EnvFile, "step0_precheck.yml", inventory: inv);
        output.WriteLine($"step0 with an unreachable node failed after {(DateTime.UtcNow - started).TotalSeconds:F1} s");
        Assert.False(r.Succeeded, "step0 passed with an unreachable node");
        Assert.Contains("fatal: [node_gone]: UNREACHABLE!", r.StdOut, StringComparison.Ordinal);
        var recap = InstallerLab.Recap(r.StdOut);
        Assert.Equal(1, recap["node_gone"].Unreachable);
        // any_errors_fatal: nobody went on past the failed task
        Assert.DoesNotContain("TASK [Linux]", r.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Precheck_reports_every_layout_problem_at_once_before_touching_a_host()
    {
        await fixture.DeployedAsync();
        var env = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(fixture.EnvFile))!;
        env["access_nodes"]!["intranet"]!["vips"]![0] = "192.0.2.200";               // outside qs_network
        env["access_nodes"]!["intranet"]!["vips"]![2] = env["access_nodes"]!["intranet"]!["vips"]![1]!.DeepClone(); // twice
        env["storage_nodes"]![0]!["nodes"]!.AsArray().RemoveAt(2);                    // 2 bricks for replica 3
        env["qs_conf"]!["ansible_ssh_pass"] = "must-not-be-here";
        var dir = TempDir.Create("cairn-installer-bad");
        var bad = Path.Combine(dir, "bad.yml");
        await File.WriteAllTextAsync(bad, env.ToJsonString());

        var r = await fixture.PlaybookAsync(bad, "step0_precheck.yml");
        Assert.False(r.Succeeded, "step0 passed a broken layout");
        foreach (var expected in new[] { "VIP 192.0.2.200 is not inside qs_network", "a VIP (or bridge_vip) is listed twice",
                     "2 bricks is not a multiple of the set size 3", "ansible_ssh_pass must not be in the variables file" })
            Assert.Contains(expected, r.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("must-not-be-here", r.StdOut + r.StdErr, StringComparison.Ordinal);
        // the hosts' play never started: nothing was touched
        Assert.DoesNotContain("PLAY [step0 precheck - hosts]", r.StdOut, StringComparison.Ordinal);
    }

    private static string Nfs(string vip, string name) => $"nfs://{vip}/vol0/{name}?version=4";

    private static string Md5(byte[] data) => Convert.ToHexStringLower(MD5.HashData(data));

    /// <summary>Reads a file of vol0 over NFS through <paramref name="vip"/> (from the controller namespace) and returns its MD5.</summary>
    private static async Task<string> NfsMd5Async(InstallerLab lab, string vip, string name, string local)
    {
        var back = Path.Combine(local, $"{Guid.NewGuid():N}.back");
        var get = await lab.CtlAsync(TimeSpan.FromMinutes(1), null, "nfs-cp", Nfs(vip, name), back);
        Assert.True(get.Succeeded, $"nfs-cp of {name} through {vip}: {get.Output()}");
        var md5 = Md5(await File.ReadAllBytesAsync(back));
        File.Delete(back);
        return md5;
    }

    /// <summary>Mounts VIP:/vol0 on /run/t of the first storage host, runs a shell command there, unmounts.</summary>
    private async Task<string> FuseAsync(InstallerLab lab, string vip, string command)
    {
        var r = await lab.ExecAsync(fixture.HostOf(fixture.StorageNodes[0]), TimeSpan.FromMinutes(2), "sh", "-c",
            $"set -e; mkdir -p /run/t; if findmnt -rn --mountpoint /run/t >/dev/null; then umount /run/t; fi; " +
            $"mount -t glusterfs {vip}:/vol0 /run/t; trap 'cd /; umount /run/t' EXIT; {command}");
        Assert.True(r.Succeeded, $"FUSE mount of {vip}:/vol0: {r.Output()}");
        return r.StdOut;
    }

    private async Task<XElement> VolumeInfoAsync(InstallerLab lab)
    {
        var r = await lab.ExecAsync(fixture.HostOf(fixture.StorageNodes[0]), "gluster", "--mode=script", "--xml", "volume", "info", "vol0");
        Assert.True(r.Succeeded, $"gluster volume info: {r.Output()}");
        var doc = XDocument.Parse(r.StdOut);
        Assert.Equal("0", (string?)doc.Root!.Element("opRet"));
        return doc.Descendants("volume").Single();
    }

    /// <summary>The tasks a run reported changed, with their hosts, for a failure message.</summary>
    private static string Changed(string output)
    {
        var lines = output.Split('\n');
        var task = "";
        var changed = new List<string>();
        foreach (var l in lines)
        {
            if (l.StartsWith("TASK [", StringComparison.Ordinal)) task = l;
            else if (l.StartsWith("changed:", StringComparison.Ordinal)) changed.Add($"{task} {l}");
        }
        return string.Join('\n', changed);
    }
}
