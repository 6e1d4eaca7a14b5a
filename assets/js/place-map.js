// The estate's map (/console/estates/{id}/place): a click on the map adds a
// corner to the outline textarea, which stays what the form saves; the ring
// is kept closed (its last line repeats the first) once it has three
// corners. Without scripts the textarea and the drawn map work as they are.
(function () {
  "use strict";
  var svg = document.querySelector("svg[data-place-map]");
  var area = document.getElementById("outline");
  if (!svg || !area) {
    return;
  }
  var west = parseFloat(svg.dataset.west);
  var north = parseFloat(svg.dataset.north);
  var xDeg = parseFloat(svg.dataset.xDeg);
  var yDeg = parseFloat(svg.dataset.yDeg);
  var draft = svg.querySelector("#place-draft");
  var tools = document.querySelector("[data-place-tools]");

  function corners() {
    var list = [];
    area.value.split("\n").forEach(function (line) {
      var parts = line.replace("，", ",").split(/[\s,]+/).filter(Boolean);
      if (parts.length === 2) {
        var lat = parseFloat(parts[0]);
        var lon = parseFloat(parts[1]);
        if (isFinite(lat) && isFinite(lon)) {
          list.push([lat, lon]);
        }
      }
    });
    return list;
  }

  function closed(list) {
    var first = list[0];
    var last = list[list.length - 1];
    return list.length > 3 && first[0] === last[0] && first[1] === last[1];
  }

  function write(list) {
    area.value = list
      .map(function (p) {
        return p[0].toFixed(6) + "," + p[1].toFixed(6);
      })
      .join("\n");
    draw();
  }

  function draw() {
    var points = corners().map(function (p) {
      var x = (p[1] - west) / xDeg;
      var y = (north - p[0]) / yDeg;
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    draft.setAttribute("points", points.join(" "));
  }

  svg.addEventListener("click", function (event) {
    var matrix = svg.getScreenCTM();
    if (!matrix) {
      return;
    }
    var at = svg.createSVGPoint();
    at.x = event.clientX;
    at.y = event.clientY;
    var unit = at.matrixTransform(matrix.inverse());
    var lat = Math.round((north - unit.y * yDeg) * 1e6) / 1e6;
    var lon = Math.round((west + unit.x * xDeg) * 1e6) / 1e6;
    var list = corners();
    if (closed(list)) {
      list.pop();
    }
    list.push([lat, lon]);
    if (list.length >= 3) {
      list.push(list[0]);
    }
    write(list);
  });

  tools.hidden = false;
  tools.querySelector("[data-place-undo]").addEventListener("click", function () {
    var list = corners();
    if (closed(list)) {
      list.pop();
    }
    list.pop();
    if (list.length >= 3) {
      list.push(list[0]);
    }
    write(list);
  });
  tools.querySelector("[data-place-forget]").addEventListener("click", function () {
    write([]);
  });
  area.addEventListener("input", draw);
  svg.classList.add("drawing");
})();
