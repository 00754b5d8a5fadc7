// Starts Swagger UI on the API docs page; kept out of the HTML for the CSP.
(function () {
  var el = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({ url: el.dataset.specUrl, domNode: el, deepLinking: true });
})();
